"""core/text/tc_unicode_data.c is what core/text/gen_unicode_tables.py writes
(the comment line naming the Python version aside): the committed tables and
their generator have not drifted apart. Usage: test_unicode_tables.py GENERATOR DATA_C"""
import subprocess
import sys
import unicodedata

gen, data = sys.argv[1:3]
with open(data, encoding="utf-8") as f:
    committed = f.read().split("\n")
if f"Unicode {unicodedata.unidata_version}" not in committed[0]:
    print(f"SKIP: the tables are from another Unicode version ({committed[0]!r}); this Python has "
          f"{unicodedata.unidata_version}")
    sys.exit(77)
fresh = subprocess.run([sys.executable, gen], capture_output=True, text=True, check=True).stdout.split("\n")
if fresh[2:] != committed[2:]:
    print("FAIL: core/text/tc_unicode_data.c differs from what gen_unicode_tables.py writes: regenerate it")
    sys.exit(1)
print(f"ok tc_unicode_data.c is current ({len(committed)} lines)")
