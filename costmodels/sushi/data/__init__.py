"""Data shipped with the ``sushi`` model (a package so the CSV and NOTICE install with it).

``ofa_mbv3_k7_r224_accuracy.csv``: measured ImageNet top-1 of 1,000 OFA-MobileNetV3 SubNets,
MIT-licensed, from ``gatech-sysml/once-for-all``; provenance and license text in ``NOTICE.md``.

``feather_zcu104_resnet50_3x3.csv``: measured latencies of 108 3x3 convolutions of six
OFA-ResNet50 SubNets on the FEATHER ZCU104 design (``maeri-project/FEATHER``); provenance in
``NOTICE.md``.
"""
