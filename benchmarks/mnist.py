"""Prequential study on the MNIST protocol (the paper's Table IV setting, streamed).

For each anomaly digit and seed, ``streamae.datasets.mnist_protocol`` keeps all
records of the nine other digits of the MNIST train split and 10 % of the
anomaly digit, shuffled with the seed (about 54 600 records of 784 pixels in
[0, 1]). The first 512 records are the warm-up; streamae's variants use
``n_clusters=9`` and ``image_shape=(28, 28)`` (the convolutional autoencoder),
and ``streamae-dense`` is the default detector with the dense autoencoder;
the peers use their defaults.

    python -m benchmarks.mnist             # 10 digits x 3 seeds, full streams
    python -m benchmarks.mnist --quick     # digits 0 and 1, 1 seed, 6000-record subsamples
    python -m benchmarks.mnist --digits 0 --max-records 20000 --seeds 1
"""

from __future__ import annotations

import sys

from benchmarks.peers import default_peers
from benchmarks.prequential import StreamSpec, common_parser, main_study, streamae_kwargs

WARMUP = 512
N_CLUSTERS = 9
IMAGE_SHAPE = (28, 28)
QUICK_DIGITS = "0,1"
QUICK_MAX_RECORDS = 6000


def streams(digits: list[int], max_records: int | None) -> list[StreamSpec]:
    from streamae.datasets import mnist_protocol

    def loader(digit: int):
        return lambda seed: mnist_protocol(digit, seed=seed, split="train",
                                           max_records=max_records)

    return [StreamSpec(f"digit-{d}", loader(d), WARMUP,
                       streamae_kwargs(n_clusters=N_CLUSTERS, image_shape=IMAGE_SHAPE))
            for d in digits]


def main(argv: list[str] | None = None) -> None:
    parser = common_parser(__doc__.splitlines()[0], default_seeds=3)
    parser.add_argument("--digits", default=None,
                        help=f"comma-separated anomaly digits (default all; quick {QUICK_DIGITS})")
    parser.add_argument("--max-records", type=int, default=None,
                        help="stratified subsample of each stream, in stream order "
                             f"(default: none; quick {QUICK_MAX_RECORDS}; 0 = none)")
    args = parser.parse_args(argv)
    if not args.peers:  # every peer, and the dense-autoencoder row beside streamae's
        peers = default_peers()
        peers.insert(peers.index("streamae") + 1, "streamae-dense")
        args.peers = ",".join(peers)
    digits_arg = args.digits or (QUICK_DIGITS if args.quick else "0,1,2,3,4,5,6,7,8,9")
    digits = [int(d) for d in digits_arg.split(",")]
    max_records = args.max_records if args.max_records is not None else (
        QUICK_MAX_RECORDS if args.quick else None)
    max_records = max_records or None
    notes = ("MNIST protocol (train split): the nine other digits are normal, 10 % of the "
             "anomaly digit's records are kept as anomalies, shuffled with the seed"
             + (f", stratified subsample of {max_records} records" if max_records else "")
             + f"; columns are the anomaly digit. Warm-up {WARMUP}; streamae variants with "
             f"n_clusters={N_CLUSTERS} and image_shape={IMAGE_SHAPE} (convolutional "
             "autoencoder); streamae-dense: the default detector with the dense autoencoder.")
    main_study("mnist", args, streams(digits, max_records), default_seeds=3, notes=notes,
               extra_settings={"digits": digits, "max_records": max_records})


if __name__ == "__main__":
    main(sys.argv[1:])
