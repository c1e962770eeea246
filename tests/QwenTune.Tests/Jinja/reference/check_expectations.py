"""Re-derives the expectations of the Jinja tests from Python Jinja2.

Usage: python3 check_expectations.py ../*.cs   (needs Jinja2 3.1.x; not run by CI)

Every [InlineData("template", "expected")] in the given files is rendered by Python Jinja2 configured
as Hugging Face transformers configures it for chat templates (utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
tojson = json.dumps(ensure_ascii=False, ...), raise_exception and strftime_now globals.
"expected" must equal the output, or str(exception) when Jinja2 raises. Cases with a line and column
(syntax errors) are reported when Jinja2 accepts the template, since QwenTune rejects more at parse time.
"""
import json
import re
import sys
from datetime import datetime

import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda f: datetime(2024, 3, 5, 14, 7, 9).strftime(f)

# Mirrors JinjaRender.Standard() in JinjaRender.cs.
STANDARD = dict(d={"a": 1, "b": [1, 2]}, s="héllo wörld", n=None, lst=["x", "y", "z"],
                msgs=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def cs_strings(text):
    """The C# regular string literals (and nulls) in an attribute's argument list, decoded."""
    out, i = [], 0
    while i < len(text):
        if text[i] == '"':
            j, buf = i + 1, ""
            while text[j] != '"':
                if text[j] == "\\":
                    if text[j + 1] == "u":
                        buf += chr(int(text[j + 2:j + 6], 16))
                        j += 6
                        continue
                    buf += ESCAPES[text[j + 1]]
                    j += 2
                    continue
                buf += text[j]
                j += 1
            out.append(buf)
            i = j + 1
        else:
            i += 1
    return out


def main(paths):
    checked = mismatched = 0
    for path in paths:
        for match in re.finditer(r"\[InlineData\((.*)\)\]\s*$", open(path, encoding="utf-8").read(), re.M):
            args = cs_strings(match.group(1))
            if len(args) < 2:
                continue
            template, expected = args[0], args[1]
            checked += 1
            if re.search(r'", (\d+), (\d+), "', match.group(1)):
                try:
                    env.from_string(template)
                    print(f"note: Jinja2 accepts what QwenTune rejects at parse time: {template!r}")
                except Exception:
                    pass
                continue
            try:
                got = env.from_string(template).render(**json.loads(json.dumps(STANDARD)))
            except Exception as error:
                got = str(error)
            if got != expected:
                mismatched += 1
                print(f"{path}: MISMATCH\n  template={template!r}\n  expected={expected!r}\n  jinja2  ={got!r}")
    print(f"{checked} cases checked, {mismatched} mismatches")
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
