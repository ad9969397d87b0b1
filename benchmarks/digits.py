"""Prequential study on the digits protocol (scikit-learn's 8x8 digits).

For each anomaly digit 0-9 and seed, ``streamae.datasets.digits_protocol`` keeps
every other digit and 10 % of the anomaly digit, shuffled with the seed. The
first 512 records are the warm-up; streamae's variants use ``n_clusters=9``
(the nine normal digits); the peers use their defaults.

    python -m benchmarks.digits            # 10 digits x 3 seeds, every detector
    python -m benchmarks.digits --quick    # 10 digits x 1 seed
    python -m benchmarks.digits --digits 3 --seeds 1 --peers streamae,river-hst
"""

from __future__ import annotations

import sys

from benchmarks.prequential import StreamSpec, common_parser, main_study, streamae_kwargs

WARMUP = 512
N_CLUSTERS = 9


def streams(digits: list[int]) -> list[StreamSpec]:
    from streamae.datasets import digits_protocol

    def loader(digit: int):
        return lambda seed: digits_protocol(digit, seed=seed)

    return [StreamSpec(f"digit-{d}", loader(d), WARMUP, streamae_kwargs(n_clusters=N_CLUSTERS))
            for d in digits]


def main(argv: list[str] | None = None) -> None:
    parser = common_parser(__doc__.splitlines()[0], default_seeds=3)
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9",
                        help="comma-separated anomaly digits (default: all ten)")
    args = parser.parse_args(argv)
    digits = [int(d) for d in args.digits.split(",")]
    notes = ("Digits protocol: sklearn's 8x8 digits, one anomaly digit kept at 10 % of its "
             "records, shuffled with the seed; columns are the anomaly digit. Warm-up "
             f"{WARMUP}; streamae variants with n_clusters={N_CLUSTERS}.")
    main_study("digits", args, streams(digits), default_seeds=3, notes=notes,
               extra_settings={"digits": digits})


if __name__ == "__main__":
    main(sys.argv[1:])
