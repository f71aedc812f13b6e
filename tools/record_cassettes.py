#!/usr/bin/env python3
"""Re-record the cassettes of a test suite against the live endpoints, then replay them.

    python tools/record_cassettes.py                       # every @pytest.mark.vcr test in tests/
    python tools/record_cassettes.py tests/test_weather.py -k paris
    python tools/record_cassettes.py --mode once           # only cassettes that are missing
    python tools/record_cassettes.py --no-key tests/test_cassettes_recorded.py   # local servers

Step 1 runs the marked tests with ``--record-mode=rewrite`` (each cassette is
deleted and recorded anew; keys, cookies and organisation ids are scrubbed as
they are written). Step 2 replays them with ``--record-mode=none`` and the network
untouched, which also checks that no cassette holds a secret. It refuses to
start when none of the API-key variables is set, since recording against a live
endpoint without a key records only authentication errors; ``--no-key`` is for
suites that record against local servers (agentkit's own tests).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

KEY_ENV_VARS = ("MISTRAL_API_KEY", "OPPER_API_KEY", "OPENAI_API_KEY")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, record, then replay; return the exit status."""
    parser = argparse.ArgumentParser(
        description="Re-record the cassettes of @pytest.mark.vcr tests, then replay them offline.",
    )
    parser.add_argument(
        "--mode",
        choices=("rewrite", "once", "new_episodes"),
        default="rewrite",
        help="rewrite: record every cassette anew (default); once: only missing cassettes",
    )
    parser.add_argument(
        "--key-env",
        action="append",
        default=[],
        metavar="VAR",
        help="an environment variable that must hold an API key (repeatable; default: any of "
        + ", ".join(KEY_ENV_VARS)
        + ")",
    )
    parser.add_argument(
        "--no-key",
        action="store_true",
        help="record without an API key (the tests record against local servers)",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the offline replay after recording"
    )
    parser.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="test paths and pytest options (default: tests)",
    )
    args = parser.parse_args(argv)

    if not args.no_key:
        wanted = args.key_env or list(KEY_ENV_VARS)
        present = [name for name in wanted if os.environ.get(name)]
        missing_required = [name for name in args.key_env if not os.environ.get(name)]
        if not present or missing_required:
            names = ", ".join(missing_required or wanted)
            print(
                f"record_cassettes: refusing to record: no API key is set ({names} "
                f"{'is' if len(missing_required or wanted) == 1 else 'are'} empty).\n"
                "Recording against a live endpoint without a key would record authentication "
                "errors. Export the key (e.g. export MISTRAL_API_KEY=...) and run again, or pass "
                "--no-key if these tests record against local servers.",
                file=sys.stderr,
            )
            return 2

    targets = [a for a in args.pytest_args if a != "--"] or ["tests"]
    base = [sys.executable, "-m", "pytest", "-m", "vcr", "-p", "no:cacheprovider"]
    print(f"record_cassettes: recording ({args.mode}): {' '.join(targets)}", flush=True)
    status = subprocess.call([*base, f"--record-mode={args.mode}", *targets])
    if status != 0:
        print(
            f"record_cassettes: recording failed (pytest exit status {status}); the cassettes "
            "of the failed tests may be missing or partial: fix and run again.",
            file=sys.stderr,
        )
        return status
    if args.no_verify:
        return 0
    print("record_cassettes: replaying offline (--record-mode=none)", flush=True)
    status = subprocess.call([*base, "--record-mode=none", *targets])
    if status != 0:
        print(
            "record_cassettes: the new cassettes do not replay; see the failures above.",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
