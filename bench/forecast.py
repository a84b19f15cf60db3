"""bench/forecast: how long the forecast takes for a large campaign.

The campaign: 100,000 contacts, a Sarvam create body calling Monday to Saturday 09:00-19:00
in Asia/Kolkata at 0.2 attempts per second (about 7,200 a day, so the run spans the whole
30 days from start to end timestamp), 3 retries on busy, no answer and failure after 1, 3
and 12 hours; outcomes answered 0.5, no answer 0.3, busy 0.1, failed 0.1.

Prints the median wall time over --repeat runs (the forecast itself: from the parsed body
and generated numbers to the last contact final), the attempts it simulated, and a
second configuration at 5 attempts per second (the same calls packed into three days,
fewer planning passes per attempt).

``--large 1000000`` adds one forecast of that many contacts at 5 attempts per second
(every contact final within the 30 days; target under 60 s), ``--standard 0`` leaves
out the two runs above. Each line also gives the process's CPU time, which a machine
shared with other work inflates less than the wall time.

Run: .venv/bin/python bench/forecast.py [--contacts 100000] [--repeat 3] [--large 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime
from typing import Any

from ringcast import forecast
from ringcast.cli import inputs
from ringcast.core.pacing import PacingLimits
from ringcast.gateways.simulator import OutcomeModel

START = datetime.fromisoformat("2026-06-01T00:00:00+00:00")


def body(attempts_per_second: float) -> dict[str, Any]:
    return {
        "name": "bench",
        "start_timestamp": "2026-06-01T00:00:00Z",
        "end_timestamp": "2026-07-01T00:00:00Z",
        "app_config": {
            "app_id": "agent",
            "attempts_per_second": attempts_per_second,
            "retry_config": {
                "max_retries": 3,
                "retry_on": {
                    "busy": {"enabled": True},
                    "no_answer": {"enabled": True},
                    "failed": {"enabled": True},
                },
                "retry_interval_minutes": [60, 180, 720],
            },
        },
        "allowed_schedule": {
            "allowed_start_time": "09:00",
            "allowed_end_time": "19:00",
            "allowed_days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
            "timezone": "Asia/Kolkata",
        },
    }


def measure(contacts: int, attempts_per_second: float, repeat: int) -> None:
    new = inputs.new_campaign(body(attempts_per_second), PacingLimits())
    people = inputs.generated(contacts, "Asia/Kolkata")
    model = OutcomeModel.parse("answered=0.5,no_answer=0.3,busy=0.1,failed=0.1", seed=1)
    times: list[float] = []
    cpu: list[float] = []
    result = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = forecast.from_new_campaign(new, people, model, START)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert result is not None
    figures = result.summary()
    median = statistics.median(times)
    print(
        f"{contacts:,} contacts at {attempts_per_second}/s: median {median:.2f} s "
        f"over {repeat} runs (min {min(times):.2f}, max {max(times):.2f}; "
        f"CPU median {statistics.median(cpu):.2f} s); "
        f"{figures['attempts']:,} attempts ({figures['attempts'] / median:,.0f} per second), "
        f"{len(figures['attempts_per_day'])} calling days, last final "
        f"{figures['last_final_at']}, {len(figures['violations'])} violations"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large", type=int, default=0, help="contacts of one large forecast")
    parser.add_argument("--standard", type=int, default=1, help="0: only the large forecast")
    parser.add_argument("--quick", action="store_true", help="one run of each (bench/run_all.py)")
    args = parser.parse_args()
    if args.quick:
        args.repeat = 1
    if args.standard:
        print("target: under 5 s for 100,000 contacts with 3 retries over 30 days")
        measure(args.contacts, 0.2, args.repeat)
        measure(args.contacts, 5.0, args.repeat)
    if args.large:
        print(f"target: under 60 s for {args.large:,} contacts")
        measure(args.large, 5.0, 1)


if __name__ == "__main__":
    main()
