"""Ticket numbers: readable, unique per node and day, and self-checking."""

from datetime import UTC, datetime

from services.intake.ticket_numbers import day_of, format_ticket_no, is_valid_ticket_no


def test_layout_is_day_node_sequence_check() -> None:
    number = format_ticket_no(day="261122", node=1, sequence=42)
    assert number[:6] == "261122"
    assert number[6] == "1"
    assert number[7:12] == "00042"
    assert len(number) == 13
    assert is_valid_ticket_no(number)


def test_the_day_is_the_beijing_date() -> None:
    # 20:00 UTC on the 22nd is already the 23rd in Beijing.
    assert day_of(datetime(2026, 11, 22, 20, 0, tzinfo=UTC)) == "261123"


def test_every_single_wrong_digit_is_detected() -> None:
    number = format_ticket_no(day="261122", node=3, sequence=1234)
    for position, digit in enumerate(number):
        for other in "0123456789":
            if other != digit:
                wrong = number[:position] + other + number[position + 1 :]
                assert not is_valid_ticket_no(wrong), wrong


def test_every_swap_of_adjacent_digits_is_detected() -> None:
    number = format_ticket_no(day="261122", node=3, sequence=98765)
    for i in range(len(number) - 1):
        if number[i] != number[i + 1]:
            swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            assert not is_valid_ticket_no(swapped), swapped


def test_sequences_beyond_five_digits_still_validate() -> None:
    assert is_valid_ticket_no(format_ticket_no(day="261122", node=0, sequence=1_234_567))


def test_non_numbers_are_not_ticket_numbers() -> None:
    for value in ["", "abc", "２６１１２２１０００４２７", "26112210004"]:
        assert not is_valid_ticket_no(value)
