"""promptlib's reliability and security suite: crash durability, concurrency, disk full, fuzzing, hostile input.

Short versions run with every ``pytest``; the long runs are marked ``slow`` (``make reliability``).
"""
