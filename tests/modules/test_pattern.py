#!/usr/bin/python3
"""Tests of the pattern module: rule targets, flags, negation, verdicts,
the PCRE2 fallback, rule-file refusals, and the shipped default rules."""
import modtest

TARGETS = ['rules={"rules/targets.rules"}']

CASES = [
    # Targets and flags, with tests/modules/fixtures/rules/targets.rules.
    {"name": "every target reads its own text", "fixture": "custom_targets.eml", "opts": TARGETS,
     "present": ["T_SUBJECT", "T_HEADER", "T_HEADERS_M", "T_BODY", "T_BODY_DOTALL", "T_RAWBODY", "T_NEG_ABSENT"],
     "absent": ["T_SUBJECT_CASE", "T_HEADER_MISS", "T_HEADERS_NOM", "T_BODY_NODOT", "T_RAW_NOT_HDR",
                "T_NEG_PRESENT", "T_URL", "T_FILENAME"]},
    {"name": "rule Hyperscan cannot compile runs on PCRE2", "fixture": "custom_targets.eml", "opts": TARGETS,
     "present": ["T_BACKREF"], "scores": {"T_BACKREF": 2.0},
     "details": {"T_BACKREF": "back-reference"}},
    {"name": "PCRE2 rule does not fire on other text", "fixture": "plain.eml", "opts": TARGETS,
     "absent": ["T_BACKREF"]},
    {"name": "verdict=block forces a block", "fixture": "custom_targets.eml", "opts": TARGETS,
     "present": ["T_BLOCK"], "verdict": "block", "status": "detected"},
    {"name": "no verdict without the rule", "fixture": "spam_phrases.eml", "opts": TARGETS,
     "absent": ["T_BLOCK"], "verdict": None},
    {"name": "url target", "fixture": "spam_phrases.eml", "opts": TARGETS, "present": ["T_URL", "T_NEG_PRESENT"]},
    {"name": "filename target", "fixture": "att_exe.eml", "opts": TARGETS, "present": ["T_FILENAME"],
     "absent": ["T_URL"]},
    # Refusals.
    {"name": "syntax error names file and line", "fixture": "plain.eml",
     "opts": ['rules={"rules/bad_syntax.rules"}'], "rc": 2, "stderr": ["bad_syntax.rules:4:", "T_BROKEN"]},
    {"name": "regex no engine accepts names file and line", "fixture": "plain.eml",
     "opts": ['rules={"rules/bad_regex.rules"}'], "rc": 2, "stderr": ["bad_regex.rules:2:", "T_BAD"]},
    {"name": "duplicate rule name refused", "fixture": "plain.eml",
     "opts": ['rules={"rules/duplicate.rules"}'], "rc": 2, "stderr": ["duplicate.rules:2:", "T_ONE"]},
    {"name": "missing rule file refused", "fixture": "plain.eml",
     "opts": ['rules={"rules/no-such.rules"}'], "rc": 2, "stderr": ["no-such.rules"]},
    # The shipped default rules (config dir: etc/).
    {"name": "default: ordinary mail is clean", "fixture": "plain.eml", "defaults": True,
     "status": "clean", "only": []},
    {"name": "default: GTUBE forces spam", "fixture": "gtube.eml", "defaults": True,
     "present": ["PAT_GTUBE"], "scores": {"PAT_GTUBE": 1000}, "verdict": "spam"},
    {"name": "default: missing Message-ID and Date", "fixture": "no_msgid_date.eml", "defaults": True,
     "present": ["PAT_NO_MESSAGE_ID", "PAT_NO_DATE"], "absent": ["PAT_GTUBE"], "verdict": None},
    {"name": "default: headers present", "fixture": "plain.eml", "defaults": True,
     "absent": ["PAT_NO_MESSAGE_ID", "PAT_NO_DATE", "PAT_NO_FROM"]},
    {"name": "default: lottery, pharmacy, IP and shortener links", "fixture": "spam_phrases.eml",
     "defaults": True, "present": ["PAT_LOTTERY", "PAT_PHARMA_ONLINE", "PAT_URL_IP", "PAT_URL_SHORTENER"]},
    {"name": "default: link in HTML href", "fixture": "html_link.eml", "defaults": True,
     "present": ["PAT_URL_IP", "PAT_PHISH_MAILBOX_FULL"]},
    {"name": "default: base64 text is decoded", "fixture": "base64_body.eml", "defaults": True,
     "present": ["PAT_PHARMA_ONLINE"]},
    {"name": "default: link text shows another site", "fixture": "html_link_mismatch.eml", "defaults": True,
     "present": ["PAT_HTML_LINK_MISMATCH"]},
    {"name": "default: link text matching its link", "fixture": "html_link_match.eml", "defaults": True,
     "absent": ["PAT_HTML_LINK_MISMATCH", "PAT_HTML_IMAGE_ONLY", "PAT_HTML_HIDDEN_CSS"]},
    {"name": "default: image-only HTML", "fixture": "html_image_only.eml", "defaults": True,
     "present": ["PAT_HTML_IMAGE_ONLY"]},
    {"name": "default: text hidden by CSS", "fixture": "html_hidden_css.eml", "defaults": True,
     "present": ["PAT_HTML_HIDDEN_CSS"], "absent": ["PAT_HTML_IMAGE_ONLY"]},
    {"name": "default: double extension in a file name", "fixture": "att_double_ext.eml", "defaults": True,
     "present": ["PAT_FILENAME_DOUBLE_EXT"]},
]

if __name__ == "__main__":
    import os
    import sys
    args = modtest.parse_args()
    etc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc")
    for case in CASES:
        case["config_dir"] = etc if case.pop("defaults", False) else args.fixtures
    sys.argv = sys.argv[:1] + ["--modtest", args.modtest, "--module", args.module, "--fixtures", args.fixtures]
    modtest.main(CASES)
