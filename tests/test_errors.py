from vsearch.errors import first_line


def test_first_line_keeps_only_the_first_line_of_a_message():
    assert first_line(RuntimeError("  the worker died\nTraceback (most recent call last):\n  ...")) == "the worker died"


def test_first_line_of_an_error_without_a_message_is_its_type():
    assert first_line(KeyError()) == "KeyError"
    assert first_line(ValueError("   \n ")) == "ValueError"
