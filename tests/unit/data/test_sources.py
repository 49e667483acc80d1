import csv
from collections import defaultdict

from stream_app.data.sources import load_events, read_online_retail
from stream_app.events.schema import EventType
from tests.conftest import FIXTURES

SAMPLE = FIXTURES / "online_retail_sample.csv"


def test_online_retail_one_event_per_invoice_with_customer() -> None:
    with SAMPLE.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    invoices: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row["CustomerID"]:
            invoices[row["InvoiceNo"]].append(row)
    events = list(load_events(str(SAMPLE)))
    assert len(events) == len(invoices)
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    by_id = {e.event_id: e for e in events}
    for number, lines in invoices.items():
        e = by_id[f"invoice-{number}"]
        assert e.user_id == str(int(float(lines[0]["CustomerID"])))
        assert e.type is (EventType.CANCEL if number.startswith("C") else EventType.PURCHASE)
        total = abs(sum(float(x["Quantity"]) * float(x["UnitPrice"]) for x in lines))
        assert abs((e.price or 0) - total) < 0.01
        assert e.ts.utcoffset() is not None


def test_london_local_time_becomes_utc() -> None:
    rows = [
        {
            "InvoiceNo": "1",
            "StockCode": "85123A",
            "Description": "X HOLDER",
            "Quantity": "1",
            "InvoiceDate": "2011-06-01 10:00:00",
            "UnitPrice": "2.0",
            "CustomerID": "17850.0",
            "Country": "UK",
        }
    ]
    (event,) = list(read_online_retail(rows))
    assert event.ts.isoformat() == "2011-06-01T09:00:00+00:00"  # BST = UTC+1
