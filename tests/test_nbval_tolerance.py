"""book/conftest.py: the stated tolerance for float32 training cells, checked on hand-made outputs."""

import importlib.util

import pytest

from alexnet_lib.config import REPO_ROOT

spec = importlib.util.spec_from_file_location("book_conftest", REPO_ROOT / "book" / "conftest.py")
book_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book_conftest)
within = book_conftest.within_tolerance

STORED = ("relu    0.03  0.837 0.600 0.294\nval top-1 83.0%, top-5 25%, loss 1.3e-03 after 7 epochs on x86_64\n"
          "tanh needs 0.75x ReLU's epochs; 3x3 kernels, 1x28x28 images\n")


@pytest.mark.parametrize("fresh", [
    STORED,
    STORED.replace("0.294", "0.293").replace("0.837", "0.840"),  # 1 and 3 units of the last digit
    STORED.replace("83.0%", "82.7%"),
    STORED.replace("1.3e-03", "1.6e-03"),  # the mantissa's last digit
    STORED.replace("25%", "22%"),  # a whole percentage is measured too
    STORED.replace("0.75x", "0.77x"),  # a ratio
])
def test_numbers_within_three_units_of_their_last_digit_match(fresh):
    assert within(STORED, fresh, last_digit=3)


@pytest.mark.parametrize("fresh", [
    STORED.replace("0.294", "0.298"),  # 4 units
    STORED.replace("83.0%", "83.4%"),
    STORED.replace("7 epochs", "8 epochs"),  # integers match exactly
    STORED.replace("relu", "tanh"),  # words match exactly
    STORED.replace("0.294", "0.2940"),  # printed to another precision
    STORED.replace("1.3e-03", "1.3e-02"),  # another decade
    STORED.replace(" 0.294", ""),  # a number missing
    STORED.replace("25%", "25.0%"),
    STORED.replace("x86_64", "x86_65"),  # digits inside a word are words
    STORED.replace("3x3", "5x5"),  # a shape is words
    STORED.replace("1x28x28", "1x32x32"),
    STORED.replace("0.75x", "0.85x"),  # 10 units
])
def test_anything_else_does_not_match(fresh):
    assert not within(STORED, fresh, last_digit=3)


def test_alignment_may_change_with_the_sign_of_a_number():
    assert within("diff  -0.15%\n", "diff   0.13%\n", last_digit=30)
    assert not within("diff  -0.15%\n", "diff   0.16%\n", last_digit=30)  # 0.31 apart


def test_counts_may_move_only_where_the_cell_says_so():
    assert not within("top-1 right for 3 of 8\n", "top-1 right for 2 of 8\n", last_digit=1)
    assert within("top-1 right for 3 of 8\n", "top-1 right for 2 of 8\n", last_digit=1, counts=True)


def test_expected_time_lines_are_left_out_and_a_stream_of_nothing_else_with_them():
    fresh = [{"output_type": "stream", "name": "stdout",
              "text": "loading\nexpected: about 3 min for training for 2 epochs on CPU (x86_64, 1 thread) "
                      "(0.5 s a step, 400 steps)\nerror 0.25\n"},
             {"output_type": "stream", "name": "stderr", "text": "expected: about 2.0 h for lrn (full) on CPU\n"},
             {"output_type": "display_data", "data": {"text/plain": "expected: about 1 min"}}]
    kept = book_conftest.without_expected_times(fresh)
    assert kept == [{"output_type": "stream", "name": "stdout", "text": "loading\nerror 0.25\n"},
                    {"output_type": "display_data", "data": {"text/plain": "expected: about 1 min"}}]
