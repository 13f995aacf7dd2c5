"""The worker count of a server for a CPU budget of CPUS cores, by the server's documented formula.

    python3 ../common/workers.py uvicorn 0.5    -> 1   (Uvicorn/FastAPI docs: one process per core)
    python3 ../common/workers.py gunicorn 0.5   -> 2   (Gunicorn docs: 2 x cores + 1)
    python3 ../common/workers.py threads 0.5    -> 2   (Gunicorn docs: gthread threads, 2-4 x cores: the top)
    python3 ../common/workers.py granian 0.5    -> 1   (Granian docs: one worker process per core)
    python3 ../common/workers.py hypercorn 0.5  -> 1   (one asyncio worker process per core, as Uvicorn)

The one place every start.sh gets its worker count from (local and in containers: each image
copies services/common/). A budget may be a fraction of a core (SERVER_CPUS=0.5): the formula
is computed on it exactly (decimal, no float error) and rounded UP, because a Python process
uses at most one core, so a part of a core still needs a process of its own to be used (0.5 ->
one Uvicorn worker; 1.5 -> two). Gunicorn's 2C + 1 is whole at every half core and is rounded
up in between (0.5 -> 2, 0.3 -> 2, 1.5 -> 4).
"""

import sys
from decimal import ROUND_CEILING, Decimal, InvalidOperation

FORMULAS = {
    "uvicorn": lambda cpus: cpus,
    "gunicorn": lambda cpus: 2 * cpus + 1,
    # Threads per gthread worker: the top of Gunicorn's "2-4 x $(NUM_CORES)", since the lab's
    # I/O and database endpoints wait more than they compute.
    "threads": lambda cpus: 4 * cpus,
    "granian": lambda cpus: cpus,
    "hypercorn": lambda cpus: cpus,
}


def workers(server: str, cpus: str) -> int:
    try:
        budget = Decimal(cpus)
    except InvalidOperation:
        budget = Decimal("NaN")
    if not budget.is_finite() or budget <= 0:
        raise ValueError(f"CPUS={cpus!r}: expected a positive number of cores, e.g. 0.5 or 2")
    return max(1, int(FORMULAS[server](budget).to_integral_value(rounding=ROUND_CEILING)))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in FORMULAS:
        sys.exit(f"usage: workers.py {'|'.join(FORMULAS)} CPUS")
    try:
        print(workers(sys.argv[1], sys.argv[2]))
    except ValueError as problem:
        sys.exit(f"error: {problem}")
