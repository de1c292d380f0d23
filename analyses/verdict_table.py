"""The training claims' verdicts per scale of the committed histories (the README's claim x scale table).

Run: python analyses/verdict_table.py   (reads histories/<scale>/*.nc as `gradlab verify` does; --results DIR)
Output: a markdown table on stdout: one row per training claim, one column per scale, and for each scale what it
measured (data, latent bits, network, epochs) from the histories' own attributes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(ROOT / "histories"), help="the folder of histories (one per scale)")
    args = ap.parse_args()
    from gradlab.theory import claim_by_id
    from gradlab.theory.training_group import SCALES, check_training, histories_scales

    results = check_training(results=args.results)
    scales = [name for name, _ in histories_scales(args.results)]
    claims = list(dict.fromkeys(r.id for r in results))
    cell = {(r.id, r.scale): r.verdict for r in results}
    print("| claim | paper, location | " + " | ".join(scales) + " |")
    print("|---|---|" + "---|" * len(scales))
    for cid in claims:
        c = claim_by_id(cid)
        paper = "ZGR" if c.paper.startswith("ZGR") else "Shah et al."
        row = [f"**{cell[(cid, s)]}**" if (cid, s) in cell else "not measured" for s in scales]
        print(f"| `{cid}` | {paper}, {c.location} | " + " | ".join(row) + " |")
    print()
    for s in scales:
        print(f"- `{s}`: {SCALES.get(s, s)}")


if __name__ == "__main__":
    main()
