"""The contract's requests and expected answers for the locustfiles: lab/contract/payloads.py, the
file the conformance suite checks with too, loaded from where it lies (the Locust image copies it
to the same place beside its locustfiles: locustfiles/Dockerfile). A Locust user checks each
response exactly as the contract does, so a wrong answer is a failure, not throughput."""

from _lab import load

_payloads = load("lab/contract/payloads.py", "lab_contract_payloads")

HELLO = _payloads.HELLO
VALID_PERSON = _payloads.VALID_PERSON
NORMALISED_PERSON = _payloads.NORMALISED_PERSON
world_problem = _payloads.world_problem
worlds_problem = _payloads.worlds_problem
fortunes_problem = _payloads.fortunes_problem
