"""A big {"data": [[numbers]]} parsed a slice at a time: the very rows json.loads gives, or None
for anything else, whatever the slices' size (1 byte: every row its own slice)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from lensflow.scoring.matrix_text import score_matrix

SLICES = (1, 7, 1 << 20)

TAKEN = [
    b'{"data": [[1,2],[3,4]]}',
    b'{"data":[[1e5, -0.5],[1E+05,0]] }',
    b'{"data": [ [ 1 , 2 ] , [ 3 , 4 ] ] , "method":"predict_proba"}',
    b'{"data": [[1e-05, 10.01], [0.1, 2.2250738585072014e-308]]}',
    b'\n{ "data" :\n[\n[1,2]\n,\n[3,4]\n]\n}\n',
    b'{"data": [[1],[2]], "method": [[1]]}',  # the method is score_input's to refuse
]

# Each is either not JSON, or not a matrix of numbers: the ordinary path words the error.
LEFT = [
    b'{"data": [[1,2],[3]]}', b'{"data": [[+1,2]]}', b'{"data": [[.5,2]]}', b'{"data": [[1.,2]]}',
    b'{"data": [[01,2]]}', b'{"data": [[-01,2]]}', b'{"data": [[1,2],]}', b'{"data": [[1,,2]]}',
    b'{"data": [[1,2]], "data": [[3,4]]}', b'{"data": [[1,2]]]}', b'{"data": [[1,2]]',
    b'{"data": [[1 2]]}', b'{"data": [[1e,2]]}', b'{"data": [[1-2]]}', b'{"data": [[--1]]}',
    b'{"data": [[1],[2]] x}', b'{"data": [[1.2.3]]}', b'{"data": [[1,2][3,4]]}',
    b'{"data": [[1,2],[3,4]],}', b'{"data": [[NaN]]}', b'{"data": [[true,2]]}',
    b'{"data": [[1,2],[3,false]]}', b'{"data": [[null,2]]}', b'{"data": [["1",2]]}',
    b'{"data": [[[1],2]]}', b'{"data": [[1,2]], "x": 1,}', b'{"method": "predict", "data": [[1]]}',
    b'{"data": [[1, 2]], "data2": ' + b"[" * 5000 + b"]" * 5000 + b"}",
]  # fmt: skip


@pytest.mark.parametrize("slice_bytes", SLICES)
@pytest.mark.parametrize("body", TAKEN)
def test_the_rows_json_gives(body: bytes, slice_bytes: int) -> None:
    parsed = score_matrix(body, min_bytes=0, slice_bytes=slice_bytes)
    assert parsed is not None
    document = json.loads(body)
    assert parsed[0].dtype == np.float64
    assert parsed[0].tolist() == np.asarray(document.pop("data"), dtype=np.float64).tolist()
    assert parsed[1] == {**document, "data": 0}


@pytest.mark.parametrize("slice_bytes", SLICES)
@pytest.mark.parametrize("body", LEFT)
def test_anything_else_is_left_to_json(body: bytes, slice_bytes: int) -> None:
    assert score_matrix(body, min_bytes=0, slice_bytes=slice_bytes) is None


def test_bit_for_bit_and_small_bodies_left_to_json() -> None:
    rng = np.random.default_rng(0)
    rows = (rng.standard_normal((5000, 10)) * 10.0 ** rng.integers(-300, 300, (5000, 10))).tolist()
    body = json.dumps({"data": rows}).encode()
    parsed = score_matrix(body, slice_bytes=4096)
    assert parsed is not None and parsed[0].tolist() == rows  # float64, bit for bit
    assert score_matrix(body, min_bytes=len(body) + 1) is None
