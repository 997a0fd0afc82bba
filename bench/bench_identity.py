"""Safety-number cost: one side (5200 SHA-512) and the full 60 digits, beside hashlib's raw cost.

The floor is hashlib itself: 5200 ``sha512(h + key).digest()`` calls on inputs of the same size,
timed in the same run, interleaved repetition by repetition with the collector paused, so the
ratio shows what our code adds to the hashing it cannot avoid. The libsignal vector is checked
before anything is timed (a wrong answer fast is no figure).

Run alone: ``.venv/bin/python bench/bench_identity.py [--quick]``.
"""

from __future__ import annotations

import hashlib
import statistics
import time

from features.identity._safety import FINGERPRINT_ITERATIONS, _iterated_hash, safety_number

from _util import Deadline, SummaryRow, gc_paused, parse_args, print_header, text_table

# libsignal rust/protocol/src/fingerprint.rs, fingerprint_test_v1
ALICE = bytes.fromhex("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868")
BOB = bytes.fromhex("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b")
VECTOR = "300354477692869396892869876765458257569162576843440918079131"
KEY = bytes(range(64))  # chatkernel's identity key: Ed25519 || X25519, 64 bytes
STABLE_ID = b"abcdefghijklmnopqrstuvwxyz234567"  # a 32-character user id


def _raw_sha512(key: bytes) -> None:
    digest = hashlib.sha512(key).digest()  # 1 + 5199 calls: the same 5200 hashes as one side
    sha512 = hashlib.sha512
    for _ in range(FINGERPRINT_ITERATIONS - 1):
        digest = sha512(digest + key).digest()


def _one_side(key: bytes) -> None:
    _iterated_hash(STABLE_ID, key)


def _both_sides(key: bytes) -> None:
    safety_number(STABLE_ID, key, STABLE_ID[::-1], key[::-1])


def run(quick: bool) -> list[SummaryRow]:
    print_header("identity: safety numbers", quick)
    assert safety_number(b"+14152222222", ALICE, b"+14153333333", BOB) == VECTOR, "libsignal vector failed"
    contenders = {"raw hashlib, 5200 x SHA-512": _raw_sha512, "safety number, one side": _one_side,
                  "safety number, 60 digits": _both_sides}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    reps = 7 if quick else 41
    deadline = Deadline(5 if quick else 30)
    with gc_paused():
        for _ in range(reps):
            for name, fn in contenders.items():
                t0 = time.perf_counter()
                fn(KEY)
                samples[name].append(time.perf_counter() - t0)
            if deadline.expired():
                break
    floor = samples["raw hashlib, 5200 x SHA-512"]
    one = samples["safety number, one side"]
    per_rep_ratio = statistics.median(o / f for o, f in zip(one, floor))
    rows = [[name, f"{statistics.median(v) * 1e3:.2f}", f"{min(v) * 1e3:.2f}",
             f"{statistics.median(v) / statistics.median(floor):.2f}x", len(v)] for name, v in samples.items()]
    print(text_table(["case", "median ms", "best ms", "vs raw", "reps"], rows))
    median_one = statistics.median(one)
    return [SummaryRow("identity", "safety number, one side (5200 SHA-512)", f"{median_one * 1e3:.2f} ms",
                       "hashlib raw 5200 x SHA-512, same run", per_rep_ratio, "<= 1.10x of raw hashing",
                       per_rep_ratio <= 1.10)]


if __name__ == "__main__":
    run(parse_args(__doc__.splitlines()[0]).quick)
