"""The sample workbook read, and retargeted, with Tableau's Document API (`tableaudocumentapi`).

That library is what users who script their workbooks use; a workbook it cannot open (an XML
comment among the worksheets once made it fail with ``KeyError: 'name'``) may not open in Tableau.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
from tableaudocumentapi import Workbook

ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = ROOT / "tableau" / "segments.twb"
README = ROOT / "README.md"
PARAMETER = "[Parameters].[Parameter 1]"  # the Live k parameter


def script_fields(book: Workbook) -> dict[str, str]:
    """Caption -> formula of every SCRIPT_* field, as the Document API reads them."""
    return {
        field.caption: field.calculation
        for source in book.datasources
        for field in source.fields.values()
        if (field.calculation or "").startswith("SCRIPT_")
    }


def call(formula: str) -> tuple[str, list[str]]:
    """(endpoint, arguments) of a ``SCRIPT_X("return tabpy.query('name', _arg1, ...)...", args)``."""
    match = re.fullmatch(r'SCRIPT_(?:INT|STR|REAL|BOOL)\("(.*?)", (.*)\)', formula)
    assert match, formula
    script, arguments = match[1], match[2].split(", ")
    assert re.findall(r"_arg\d+", script) == [f"_arg{i}" for i in range(1, len(arguments) + 1)], formula
    return re.search(r"tabpy\.query\('(\w+)'", script)[1], arguments


def test_the_document_api_lists_sources_fields_and_sheets(demo_run):
    book = Workbook(str(WORKBOOK))
    assert book.worksheets == ["Customers"]
    parameters, segments = book.datasources
    assert parameters.name == "Parameters" and segments.name == "federated.segments"
    (connection,) = segments.connections
    assert connection.dbclass == "textscan"

    features = json.loads((demo_run / "model" / "metadata.json").read_text())["features"]
    sums = [f"SUM([{name}])" for name in features]
    expected = {
        "segment_assign": sums,
        "segment_name": sums,
        "segment_action": sums,
        "segment_live": [PARAMETER, *sums],
        # rfm_score(recency, frequency, monetary): the RFM columns, not the model's features
        "rfm_score": ["SUM([recency_days])", "SUM([txn_count])", "SUM([total_amount])"],
    }
    calls = dict(call(formula) for formula in script_fields(book).values())
    assert calls == expected

    # The sheet declares the five fields it shows, with the same formulas as the data source.
    used = {field.id for field in segments.fields.used_by_sheet("Customers")}
    assert {f.id for f in segments.fields.values() if f.calculation} <= used
    sheet = ET.parse(WORKBOOK).getroot().find(".//worksheet/table/view")
    for column in sheet.iter("column"):
        if column.find("calculation") is not None:
            source = parameters if column.get("name") == "[Parameter 1]" else segments
            assert column.find("calculation").get("formula") == source.fields[column.get("name")].calculation


def readme_retargeting() -> str:
    """The README's Python block that retargets the workbook."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "tableaudocumentapi" in b]
    return block


def test_the_readme_retargets_the_data_source_to_another_csv(demo_run, tmp_path, monkeypatch):
    """The README's lines, run as written, point the workbook at another run's customer_segments.csv."""
    before = WORKBOOK.read_bytes()
    (tmp_path / "tableau").mkdir()
    shutil.copy(WORKBOOK, tmp_path / "tableau")
    monkeypatch.chdir(tmp_path)
    code = readme_retargeting()
    folder = re.search(r'\.set\("directory", "(.+?)"\)', code)[1]
    saved = re.search(r'\.save_as\("(.+?)"\)', code)[1]
    exec(code.replace(f'"{folder}"', repr(str(demo_run))), {})  # the README's own lines

    copy = Workbook(saved)
    (connection,) = copy.datasources[1].connections
    element = connection._connectionXML  # 0.11 has no property for a text file's folder
    csv = Path(element.get("directory")) / element.get("filename")
    assert csv == demo_run / "customer_segments.csv" and csv.exists()
    declared = [c.get("name") for c in ET.parse(saved).getroot().find(".//relation/columns")]
    assert declared == list(pd.read_csv(csv, nrows=0).columns)
    assert copy.worksheets == ["Customers"]
    assert script_fields(copy) == script_fields(Workbook(str(WORKBOOK)))
    assert WORKBOOK.read_bytes() == before
