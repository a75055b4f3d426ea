"""Coverage-guided fuzzing of one target with atheris (libFuzzer).

    python -m tests.fuzz.atheris_main TARGET [libFuzzer flags...] [CORPUS_DIR...]

qbizfed's modules are instrumented for coverage; the target's seeds are written to
the first corpus directory when it is empty. Any exception other than the target's
allowed refusals (and the open findings of ``known_findings.py``), and any input
slower than ``-timeout``, is a finding: libFuzzer
writes the input to ``-artifact_prefix`` and exits non-zero. ``scripts/fuzz.sh`` runs
every target for a bounded time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris  # type: ignore[import-untyped]


def _write_seeds(corpus: Path, seeds: list[bytes]) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if any(corpus.iterdir()):
        return
    for number, seed in enumerate(seeds):
        (corpus / f"seed-{number:02d}").write_bytes(seed)


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: python -m tests.fuzz.atheris_main TARGET [libFuzzer args]")
    name, rest = argv[1], argv[2:]
    with atheris.instrument_imports(include=["qbizfed"]):
        import qbizfed.identity.id_token
        import qbizfed.identity.oidc
        import qbizfed.identity.saml
        import qbizfed.local.edge
        import qbizfed.local.qbusiness.protocol
        import qbizfed.local.qbusiness.routing
        import qbizfed.local.sigv4
        import qbizfed.local.sts.saml_response
        import qbizfed.local.sts.web_identity  # noqa: F401
    from tests.fuzz.known_findings import check_skipping_known
    from tests.fuzz.targets import TARGETS

    if name not in TARGETS:
        raise SystemExit(f"unknown target {name!r}; targets: {', '.join(TARGETS)}")
    target = TARGETS[name]()
    corpora = [Path(arg) for arg in rest if not arg.startswith("-")]
    if corpora:
        _write_seeds(corpora[0], target.seeds())

    def one_input(data: bytes) -> None:
        check_skipping_known(target.name, target.check, data)

    atheris.Setup([argv[0], *rest], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
