"""Labels files: JSON Lines and CSV, paths relative to the file, every bad line named with its number."""

import json

import pytest

from vsearch.evaluation.labels import LabelsError, Moment, read_labels


def test_json_lines_with_good_and_bad_lines(tmp_path):
    lines = [
        {"query": "a dog", "path": "videos/dog.mp4", "start": 1, "end": 3.5},
        {"query": "a dog", "path": "/abs/other.mp4", "start": "4", "end": "6"},
        "# a comment",
        "",
        "{not json",
        ["a", "list"],
        {"query": "", "path": "x.mp4", "start": 0, "end": 1},
        {"query": "a cat", "path": "x.mp4", "start": 2, "end": 1},
        {"query": "a cat", "path": "x.mp4", "start": "soon", "end": 1},
        {"query": "a cat", "path": "x.mp4", "start": 0},
        {"query": " a cat ", "path": "../up/cat.webm", "start": 0, "end": 0.5, "extra": True},
    ]
    source = tmp_path / "labels" / "set.jsonl"
    source.parent.mkdir()
    source.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    labels = read_labels(source)
    assert labels.moments == [
        Moment("a dog", str(tmp_path / "labels" / "videos" / "dog.mp4"), 1.0, 3.5, 1),
        Moment("a dog", "/abs/other.mp4", 4.0, 6.0, 2),
        Moment("a cat", str(tmp_path / "up" / "cat.webm"), 0.0, 0.5, 11),
    ]
    assert [line for line, _ in labels.problems] == [5, 6, 7, 8, 9, 10]
    problems = dict(labels.problems)
    assert "not JSON" in problems[5] and "object" in problems[6] and "missing query" in problems[7]
    assert "start < end" in problems[8] and "'soon'" in problems[9] and "missing end" in problems[10]
    assert list(labels.queries()) == ["a dog", "a cat"]


def test_csv_with_the_same_columns(tmp_path):
    source = tmp_path / "set.csv"
    source.write_text('query,path,start,end\n"eating, spaghetti",a.mp4,0,4\nbad,b.mp4,x,1\n')
    labels = read_labels(source)
    assert labels.moments == [Moment("eating, spaghetti", str(tmp_path / "a.mp4"), 0.0, 4.0, 2)]
    assert labels.problems[0][0] == 3 and "start" in labels.problems[0][1]

    source.write_text("question,file,start,end\nx,y,0,1\n")
    labels = read_labels(source)
    assert not labels.moments and "lacks query, path" in labels.problems[0][1]


def test_an_unreadable_file_is_one_error(tmp_path):
    with pytest.raises(LabelsError, match="cannot read"):
        read_labels(tmp_path / "nothing.jsonl")
