"""Login cost: an unlock at the chosen Argon2id parameters, beside the raw Argon2id call it cannot
avoid, with Scrypt (n=2**17, r=8, p=1) and OWASP's Argon2id floor for comparison.

The login is ``features.auth._unlock.unlock``: throttle check, NFKC, Argon2id in a worker thread
(``asyncio.to_thread``), the HKDF split into database key and verifier, the constant-time check,
driven on one event loop for the whole run. Every contender is timed in the same repetition,
interleaved, with the collector paused, so the ratio shows what the login adds to the KDF. The
login is checked to open the record before anything is timed.

Run alone: ``.venv/bin/python bench/bench_auth.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from features.auth._kdf import DEFAULT_PARAMS, OWASP_MINIMUM, KdfParams, new_record
from features.auth._throttle import LoginThrottle
from features.auth._unlock import unlock

from _util import Deadline, SummaryRow, gc_paused, parse_args, print_header, text_table

PASSPHRASE = "correct horse battery staple"
P = DEFAULT_PARAMS


def _argon2(params: KdfParams, salt: bytes) -> Callable[[], None]:
    def run() -> None:
        Argon2id(salt=salt, length=32, iterations=params.iterations, lanes=params.lanes,
                 memory_cost=params.memory_kib).derive(PASSPHRASE.encode())
    return run


def run(quick: bool) -> list[SummaryRow]:
    print_header("auth: login (Argon2id key derivation)", quick)
    record, keys = new_record(PASSPHRASE, P)
    loop = asyncio.new_event_loop()
    try:
        opened = loop.run_until_complete(unlock("bench", PASSPHRASE, record, LoginThrottle(), current=P))
        assert opened.keys == keys and opened.upgrade is None, "login did not open its own record"

        def login() -> None:
            loop.run_until_complete(unlock("bench", PASSPHRASE, record, LoginThrottle(), current=P))

        raw_name = f"raw Argon2id m={P.memory_kib // 1024} MiB t={P.iterations} p={P.lanes}"
        login_name = "login: unlock() at the same parameters"
        contenders: dict[str, Callable[[], None]] = {
            raw_name: _argon2(P, record.salt),
            login_name: login,
            f"OWASP floor Argon2id m={OWASP_MINIMUM.memory_kib // 1024} MiB t={OWASP_MINIMUM.iterations}":
                _argon2(OWASP_MINIMUM, record.salt),
            "Scrypt n=2**17 r=8 p=1 (128 MiB)":
                lambda: Scrypt(salt=record.salt, length=32, n=2**17, r=8, p=1).derive(PASSPHRASE.encode()),
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        reps = 3 if quick else 11
        deadline = Deadline(8 if quick else 40)
        with gc_paused():
            for _ in range(reps):
                for name, fn in contenders.items():
                    t0 = time.perf_counter()
                    fn()
                    samples[name].append(time.perf_counter() - t0)
                if deadline.expired():
                    break
    finally:
        loop.close()
    floor = samples[raw_name]
    rows = [[name, f"{statistics.median(v) * 1e3:.1f}", f"{min(v) * 1e3:.1f}",
             f"{statistics.median(v) / statistics.median(floor):.2f}x", len(v)] for name, v in samples.items()]
    print(text_table(["case", "median ms", "best ms", "vs raw Argon2id", "reps"], rows))
    per_rep = statistics.median(a / b for a, b in zip(samples[login_name], floor))
    median_login = statistics.median(samples[login_name])
    print(f"login / raw Argon2id, median of per-repetition ratios: {per_rep:.3f}x")
    return [SummaryRow("auth", f"login, Argon2id m={P.memory_kib // 1024} MiB t={P.iterations} p={P.lanes}",
                       f"{median_login * 1e3:.0f} ms", "raw Argon2id call, same run", per_rep,
                       "<= 1.05x of the KDF alone", per_rep <= 1.05)]


if __name__ == "__main__":
    run(parse_args(__doc__.splitlines()[0]).quick)
