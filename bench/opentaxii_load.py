"""Load the benchmark's objects into an OpenTAXII 2.1 database (run with OpenTAXII's Python).

    bench/.venvs/opentaxii/bin/python bench/opentaxii_load.py DB_URL OBJECTS.jsonl

Creates OpenTAXII's tables, one public API root and one public collection, inserts every
object with one date_added (as one bundle would have), and prints the two ids as JSON.
"""

from __future__ import annotations

import datetime
import json
import sys
import uuid

import sqlalchemy
from opentaxii.persistence.sqldb import taxii2models

url, path = sys.argv[1], sys.argv[2]
engine = sqlalchemy.create_engine(url)
taxii2models.Base.metadata.create_all(engine)
root, collection = uuid.uuid4(), uuid.uuid4()
added = datetime.datetime.now(datetime.UTC)
with engine.begin() as conn:
    conn.execute(
        taxii2models.ApiRoot.__table__.insert(),
        [{"id": root, "default": True, "title": "bench", "description": "", "is_public": True}],
    )
    conn.execute(
        taxii2models.Collection.__table__.insert(),
        [
            {
                "id": collection,
                "api_root_id": root,
                "title": "bench",
                "description": "",
                "alias": "bench",
                "is_public": True,
                "is_public_write": False,
            }
        ],
    )
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            obj = json.loads(line)
            version = datetime.datetime.fromisoformat(obj["modified"].replace("Z", "+00:00"))
            rows.append(
                {
                    "pk": uuid.uuid4(),
                    "id": obj["id"],
                    "collection_id": collection,
                    "type": obj["type"],
                    "spec_version": obj["spec_version"],
                    "date_added": added,
                    "version": version.replace(tzinfo=datetime.UTC),
                    "serialized_data": {
                        k: v for k, v in obj.items() if k not in {"id", "type", "spec_version"}
                    },
                }
            )
            if len(rows) == 10_000:
                conn.execute(taxii2models.STIXObject.__table__.insert(), rows)
                rows = []
    if rows:
        conn.execute(taxii2models.STIXObject.__table__.insert(), rows)
# Statistics, as autovacuum would gather them in service (and as Balai's import does itself).
with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
    conn.execute(sqlalchemy.text("ANALYZE"))
print(json.dumps({"api_root": str(root), "collection": str(collection)}))
