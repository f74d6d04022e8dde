#!/usr/bin/python3
"""Writes build/gen/entities.c: HTML's named character references (the
WHATWG table) as Debian's Python has it in html.entities.html5, so that
digest knows every one without a copy of the table in its sources. Only the
names written with their semicolon: those are the ones XML would need."""
import html.entities
import sys

rows = sorted((name[:-1], value) for name, value in html.entities.html5.items() if name.endswith(";"))
out = sys.stdout
out.write("/* Generated from Python's html.entities.html5 by src/gen_entities.py: do not edit. */\n")
out.write('#include "digest/entity.h"\n\n')
out.write("/* Sorted by name, as strcmp(3) orders them. */\n")
out.write("const struct entity entity_table[] = {\n")
for name, value in rows:
    assert name.isascii() and name.isalnum() and 1 <= len(value) <= 2, name
    cps = [ord(c) for c in value] + [0]
    out.write('\t{"%s", {0x%X, 0x%X}},\n' % (name, cps[0], cps[1]))
out.write("};\n")
out.write("const size_t entity_count = sizeof entity_table / sizeof entity_table[0];\n")
