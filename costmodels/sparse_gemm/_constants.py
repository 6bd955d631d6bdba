"""Constants of the sparse-GEMM engine model, each with its source.

Tags as in the reference notes: [paper] the VEGETA paper or another cited public source,
[code] the authors' MacSim fork or SparseAccelerator-RTL, [derived] worked out from those,
[assumed] a modelling choice with the reasoning given, [fitted] fitted to published numbers.
"""

from __future__ import annotations


# -- tile registers and instructions (AMX shape) --------------------------------------------------
TILE_ROWS = 16  # rows per tile register [paper: Intel AMX, 16 rows x 64 B]
TILE_ROW_BYTES = 64  # [paper: Intel AMX]
TILE_BYTES = TILE_ROWS * TILE_ROW_BYTES  # 1 KiB treg
ELEMS_PER_ROW = 32  # bf16 values per tile row, also the stored K per A row per instruction
N_TILE = 16  # C columns per instruction (C is 16 x 16 fp32 = one treg) [paper/code]
MACS = TILE_ROWS * ELEMS_PER_ROW  # 512 MAC units, fixed by the register shape [derived]
MACS_PER_INSTR = TILE_ROWS * N_TILE * ELEMS_PER_ROW  # 8192 real MACs per tile instruction [code]
GROUP = 4  # M of N:M on the engine: 2-bit metadata, 4:1 mux [code: SparseAccelerator-RTL]
META_BYTES = 128  # one metadata register per A tile: 512 x 2 bit [code: MacSim fork]
ACC_BYTES = 4  # fp32 accumulators
VALUE_BYTES = 2  # bf16 inputs

# -- engine timing ------------------------------------------------------------------------------
# One B column enters the array per cycle, N_TILE columns per instruction; the stationary operand
# is double-buffered (RASA's pipelined weight load; VEGETA-RTL's 2-entry buffer), so a new
# instruction can issue every N_TILE cycles [derived from code, reference notes 2.1-2.2].
ISSUE_INTERVAL = 16
# Cycles from the last partial sum leaving the array until the C tile can feed a dependent
# instruction (register write-back and wake-up). Not published; FITTED to the dense speed-up
# (1.09x) of VEGETA-S-16-2 over RASA-SM on the shipped workload set alone, see
# ``_anchors.fit_writeback``; the 2:4, 1:4 and unstructured numbers are held out.
WRITEBACK_CYCLES_FITTED = 5.5

# -- core and memory (one core, per the fork's 2021 params.in [code], where given) ---------------
L1_BYTES = 32 * 1024  # L1D 32 KB [code: fork params.in]
# Default L2 -> L1 fill bandwidth (the ``l2_bytes_per_cycle`` input). Golden Cove fills 64 B per
# cycle; the published 2:4 speed-up (2.02x over VEGETA's own dense) shows the paper's simulated
# core does not bind on L2 for 2:4, which at 64 B/cycle it would (1152 B of A per instruction
# streamed from L2 with b_n = 1). 128 B/cycle [assumed]; docs show the sensitivity.
DEFAULT_L2_BYTES_PER_CYCLE = 128
STORE_BYTES_PER_CYCLE = 64.0  # one 64-B store per cycle [assumed]
DEFAULT_DRAM_GBPS = 153.6  # 8 channels [code] x 19.2 GB/s (DDR4-2400) [assumed speed grade]

# -- energy proxy (pJ): 45 nm figures, M. Horowitz, "Computing's energy problem", ISSCC 2014 --
E_MAC_PJ = 1.1 + 0.9  # 16-bit FP multiply + 32-bit FP add [paper: Horowitz]
E_MUX_PJ = 0.05  # 4:1 x 16-bit select + 2-bit metadata read per MAC [assumed: ~2 % of a MAC]
E_L1_PJ_PER_BYTE = 20.0 / 8  # 32 KB SRAM, 64-bit read ~20 pJ [paper: Horowitz]
E_L2_PJ_PER_BYTE = 100.0 / 8  # 1 MB SRAM, 64-bit read ~100 pJ [paper: Horowitz]
E_DRAM_PJ_PER_BYTE = 2000.0 / 8  # DRAM 1.3-2.6 nJ per 64 bit, mid value [paper: Horowitz]
# Leakage and clock of the engine: 10 % of RASA-SM's dynamic MAC power at full use, scaled by
# the area proxy [assumed].
E_STATIC_PJ_PER_CYCLE_REF = 0.1 * MACS * E_MAC_PJ

# -- area proxy, in units of one bf16 MAC (multiplier + fp32 adder) [assumed gate-count ratios] ---
A_MAC = 1.0
A_REG16 = 0.08  # 16 flip-flops vs a ~1.2 kGE bf16 MAC
A_REG32 = 0.16
A_MUX4_16 = 0.03  # 4:1 x 16-bit multiplexer
A_META_BIT2 = 0.01  # one 2-bit metadata register
A_FANOUT_PER_SINK16 = 0.01  # buffering per extra sink of a broadcast 16-bit B input
