"""Functional sparse-GEMM engine: N:M pruning, compression, GEMM from the compressed form,
row-wise N:M and tile-instruction traces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from costmodels import ModelError
from costmodels.sparse_gemm import (
    bf16_round,
    compress,
    expected_rowwise_n,
    nm_mask,
    nm_prune,
    rowwise_spmm,
    spmm,
    to_rowwise_nm,
)
from costmodels.sparse_gemm._trace import (
    execute_trace,
    rowwise_trace_counts,
    tile_trace,
    trace_counts,
    trace_histogram,
)


GROUP_SIZES = (2, 4, 8, 16, 32, 64, 128)


def _ints(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    # Small integers: every product and partial sum is exact in float64, so any summation
    # order gives the same bits and "bit-exact" is a meaningful test.
    return rng.integers(-8, 9, shape).astype(np.float64)


@pytest.mark.parametrize("m", GROUP_SIZES)
def test_prune_keeps_n_largest_per_group(m: int) -> None:
    rng = np.random.default_rng(m)
    a = rng.standard_normal((6, 4 * m))
    for n in sorted({1, max(1, m // 4), m // 2, m - 1, m} - {0}):
        pruned, mask = nm_prune(a, n, m)
        groups = np.abs(a).reshape(6, 4, m)
        kept = mask.reshape(6, 4, m)
        assert (kept.sum(axis=-1) == n).all()
        # every kept magnitude >= every dropped magnitude within a group
        lo_kept = np.where(kept, groups, np.inf).min(axis=-1)
        hi_dropped = np.where(kept, -np.inf, groups).max(axis=-1)
        assert (lo_kept >= hi_dropped).all()
        assert np.array_equal(pruned, np.where(mask, a, 0.0))


def test_prune_ties_go_to_lower_index() -> None:
    assert nm_mask(np.ones((1, 4)), 2, 4).tolist() == [[True, True, False, False]]


@pytest.mark.parametrize(("n", "m"), [(0, 4), (5, 4), (1, 3), (1, 256)])
def test_bad_pattern_names_parameter(n: int, m: int) -> None:
    with pytest.raises(ModelError, match=r"\bn=|\bm="):
        nm_prune(np.ones((2, 12)), n, m)


def test_shape_that_does_not_tile_names_k() -> None:
    with pytest.raises(ModelError, match="K=10"):
        compress(np.ones((2, 10)), 2, 4)


@pytest.mark.parametrize("m", GROUP_SIZES)
def test_compression_roundtrip_and_exact_footprint(m: int) -> None:
    rng = np.random.default_rng(1)
    rows, k = 5, 2 * m
    n = max(1, m // 4)
    pruned, _ = nm_prune(rng.standard_normal((rows, k)), n, m)
    c = compress(pruned, n, m)
    assert np.array_equal(c.decompress(), pruned)
    bits = math.ceil(math.log2(m))
    assert c.metadata_bytes == rows * math.ceil((k // m) * n * bits / 8)
    assert c.value_bytes == rows * (k // m) * n * 8
    assert c.nbytes == c.value_bytes + c.metadata_bytes


def test_vegeta_tile_metadata_is_128_bytes_msb_pair_first() -> None:
    # One 16 x 32-stored-value A tile at 2:4 or 1:4 needs one 128-byte metadata register.
    rng = np.random.default_rng(2)
    for n, k in ((2, 64), (1, 128)):
        c = compress(rng.standard_normal((16, k)), n, 4, value_format="bf16")
        assert c.metadata_bytes == 128
        assert c.value_bytes == 16 * 32 * 2  # bf16 values: one 1 KiB treg
    # positions 3, 0, 1, 2 (one 1:4 value per group) pack to 0b11_00_01_10 in one byte
    a = np.zeros((1, 16))
    for g, pos in enumerate((3, 0, 1, 2)):
        a[0, 4 * g + pos] = 1.0
    assert compress(a, 1, 4).metadata[0, 0] == 0b11000110


def test_strict_compression_refuses_lossy_input() -> None:
    with pytest.raises(ModelError, match="not 2:4 sparse"):
        compress(np.ones((2, 8)), 2, 4, strict=True)


@pytest.mark.parametrize(("n", "m"), [(1, 4), (2, 4), (4, 4), (3, 8), (1, 2), (5, 32), (1, 128)])
def test_spmm_from_compressed_is_bit_exact(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 1000 + m)
    a = _ints(rng, (37, 2 * m * 3))
    b = _ints(rng, (a.shape[1], 23))
    pruned, _ = nm_prune(a, n, m)
    got = spmm(compress(a, n, m), b, panel_rows=8)
    assert got.dtype == np.float64
    assert np.array_equal(got, pruned @ b)


def test_spmm_general_floats_match_to_rounding() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((64, 256)), rng.standard_normal((256, 48))
    pruned, _ = nm_prune(a, 1, 4)
    np.testing.assert_allclose(spmm(compress(a, 1, 4), b), pruned @ b, rtol=1e-12, atol=1e-12)


def test_spmm_bf16_inputs_fp32_accumulation() -> None:
    rng = np.random.default_rng(4)
    a = rng.standard_normal((48, 512)).astype(np.float32)
    b = rng.standard_normal((512, 32)).astype(np.float32)
    pruned, _ = nm_prune(a, 2, 4)
    got = spmm(compress(a, 2, 4, value_format="bf16"), b)
    assert got.dtype == np.float32
    # Against float64 on the bf16-rounded inputs: only fp32 accumulation error remains.
    exact = bf16_round(pruned).astype(np.float64) @ bf16_round(b).astype(np.float64)
    np.testing.assert_allclose(got, exact, rtol=1e-4, atol=1e-4)
    # Against the unrounded float64 product: bf16 input rounding (8-bit mantissa) dominates.
    ref = pruned.astype(np.float64) @ b.astype(np.float64)
    # each input carries a relative error <= 2^-8, so each product <= 2^-7 (first order)
    bound = 2.0**-7 * (np.abs(pruned).astype(np.float64) @ np.abs(b).astype(np.float64))
    assert (np.abs(got - ref) <= bound + 1e-5).all()


def test_bf16_rounding_is_nearest_even() -> None:
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
    x = np.asarray([1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 1.0 + 2.0**-9], dtype=np.float32)
    assert bf16_round(x).tolist() == [1.0, 1.0 + 2 * 2.0**-7, 1.0]


def test_spmm_rejects_mismatched_operand() -> None:
    with pytest.raises(ModelError, match="K=16"):
        spmm(compress(np.ones((2, 16)), 2, 4), np.ones((8, 3)))


@pytest.mark.parametrize("chunk", [4, 16, 32, 128])
def test_rowwise_conversion_is_lossless_and_minimal(chunk: int) -> None:
    rng = np.random.default_rng(chunk)
    a = _ints(rng, (40, 256)) * (rng.random((40, 256)) < 0.2)
    rw = to_rowwise_nm(a, chunk)
    assert np.array_equal(rw.decompress(), a)
    worst = np.count_nonzero(a.reshape(40, 256 // chunk, chunk // 4, 4), axis=-1).max(axis=-1)
    smallest = np.select([worst <= 1, worst <= 2], [1, 2], 4)
    assert np.array_equal(rw.chunk_n, smallest)
    b = _ints(rng, (256, 9))
    assert np.array_equal(rowwise_spmm(rw, b, panel_rows=7), a @ b)
    n_stored = rw.chunk_n.sum() * chunk // 4
    assert rw.nbytes == n_stored * 8 + math.ceil(n_stored * 2 / 8) + math.ceil(rw.chunk_n.size / 4)


def test_rowwise_bad_chunk_names_parameter() -> None:
    with pytest.raises(ModelError, match="row_chunk=6"):
        to_rowwise_nm(np.ones((2, 12)), 6)
    with pytest.raises(ModelError, match="K=48"):
        to_rowwise_nm(np.ones((2, 48)), 32)


def test_rowwise_closed_form_matches_sampled_matrices() -> None:
    rng = np.random.default_rng(5)
    for density, chunk in ((0.05, 32), (0.05, 128), (0.3, 16)):
        a = rng.standard_normal((512, 1024)) * (rng.random((512, 1024)) < density)
        assert to_rowwise_nm(a, chunk).mean_n() == pytest.approx(
            float(expected_rowwise_n(density, chunk)), rel=0.02
        )
    assert float(expected_rowwise_n(0.0, 32)) == 1.0
    assert float(expected_rowwise_n(1.0, 32)) == 4.0


SHAPES = [(40, 50, 256, 2, 1, "nm"), (33, 17, 128, 1, 1, "mn"), (64, 64, 512, 2, 1, "mn")]


@pytest.mark.parametrize("kind", ["dense", "2:4", "1:4"])
@pytest.mark.parametrize(("m", "n", "k", "b_m", "b_n", "order"), SHAPES)
def test_trace_counts_and_execution(
    kind: str, m: int, n: int, k: int, b_m: int, b_n: int, order: str
) -> None:
    trace = tile_trace(m, n, k, kind, b_m=b_m, b_n=b_n, loop_order=order)
    formula = {op: int(v) for op, v in trace_counts(m, n, k, kind, b_m=b_m, b_n=b_n).items()}
    assert trace_histogram(trace) == formula
    rng = np.random.default_rng(6)
    stored = {"dense": 4, "2:4": 2, "1:4": 1}[kind]
    a, _ = nm_prune(_ints(rng, (m, k)), stored, 4)
    b = _ints(rng, (k, n))
    assert np.array_equal(execute_trace(trace, a, b, kind), a @ b)


def test_trace_dense_2x2_blocking_counts() -> None:
    counts = trace_counts(64, 64, 128, "dense", b_m=2, b_n=2)
    assert counts["TILE_GEMM"] == 4 * 4 * 4
    assert counts["TILE_LOAD_T"] == 2 * (4 * 4 * 2)  # A and B loads, each reused twice
    assert counts["TILE_STORE_T"] == 16


def test_trace_refuses_more_live_tiles_than_registers() -> None:
    with pytest.raises(ModelError, match=r"b_m=2, b_n=2: 14 live tiles .* tile_regs=8"):
        tile_trace(64, 64, 256, "1:4", b_m=2, b_n=2)


def test_rowwise_trace_counts_pack_values_into_tiles() -> None:
    # Rows with one nonzero per group (N = 1 everywhere): exactly the 1:4 instruction count.
    a = np.zeros((64, 256))
    a[:, ::4] = 1.0
    counts = rowwise_trace_counts(to_rowwise_nm(a, 32), 64)
    assert counts["TILE_SPMM_R"] == trace_counts(64, 64, 256, "1:4")["TILE_SPMM_V"]
    with pytest.raises(ModelError, match="row_chunk=96"):
        rowwise_trace_counts(to_rowwise_nm(np.zeros((4, 192)), 96), 16)


def test_panel_rows_must_be_positive() -> None:
    packed = compress(np.ones((4, 8)), 2, 4)
    with pytest.raises(ModelError, match="panel_rows=0"):
        spmm(packed, np.ones((8, 2)), panel_rows=0)
    with pytest.raises(ModelError, match="panel_rows=0"):
        rowwise_spmm(to_rowwise_nm(np.ones((4, 8)), 4), np.ones((8, 2)), panel_rows=0)


def test_measured_rowwise_n_equals_conversion_of_pruned_matrices() -> None:
    from costmodels.sparse_gemm._rowwise_measured import RowwiseProfile

    rng = np.random.default_rng(11)
    # Rows of different scale (as trained weights): kept weights cluster by row.
    mats = {
        "a": rng.standard_normal((48, 256)) * rng.lognormal(0.0, 1.0, (48, 1)),
        "b": rng.standard_normal((32, 96)),  # K = 96: padded for chunks of 64 and 128
    }
    profile = RowwiseProfile(mats)
    for chunk in (16, 32, 64, 128):
        for density in (0.02, 0.1, 0.4):
            stored, chunks = 0.0, 0
            for a, tau in zip(mats.values(), profile.thresholds(np.asarray(density)), strict=True):
                pad = -a.shape[1] % chunk
                pruned = np.pad(a * (np.abs(a) >= tau), ((0, 0), (0, pad)))
                rw = to_rowwise_nm(pruned, chunk)
                stored, chunks = stored + rw.chunk_n.sum(), chunks + rw.chunk_n.size
            got = profile.expected_n(np.asarray([density]), np.asarray([chunk]))
            assert got[0] == pytest.approx(stored / chunks, rel=1e-12)
    iid = {"x": rng.standard_normal((256, 1024))}
    measured = RowwiseProfile(iid).expected_n(np.asarray([0.05, 0.1]), np.asarray([32, 32]))
    np.testing.assert_allclose(measured, expected_rowwise_n(np.asarray([0.05, 0.1]), 32),
                               rtol=0.03)  # i.i.d. magnitudes: the closed form holds
