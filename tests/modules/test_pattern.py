#!/usr/bin/python3
"""Tests of the pattern module: rule targets, flags, negation, verdicts,
the PCRE2 fallback, rule-file refusals, and the shipped default rules."""
import atexit
import os
import shutil
import tempfile
import time

import modtest

# A meta with two million '!' in a row, written at run time (2 MB is no file to keep).
BANGS_DIR = tempfile.mkdtemp(prefix="smf-pattern-")
atexit.register(shutil.rmtree, BANGS_DIR, ignore_errors=True)
BANGS = os.path.join(BANGS_DIR, "bangs.rules")
with open(BANGS, "w") as f:
    f.write('T_A  body  /a/  1  "a"\nmeta T_BANGS ' + "!" * 2000000 + 'T_A  1  "m"\n')

# HTML that a link rule with unbounded backtracking took seconds over: ten thousand
# links with no text, and one tag that never closes holding twenty thousand hrefs.
HTML_HEAD = ("From: a@example.net\nTo: b@example.org\nSubject: links\nDate: Tue, 02 Jan 2024 10:00:00 +0000\n"
             "Message-ID: <links@example.net>\nMIME-Version: 1.0\nContent-Type: text/html\n\n<html><body>")
EMPTY_LINKS = os.path.join(BANGS_DIR, "empty_links.eml")
with open(EMPTY_LINKS, "w") as f:
    f.write(HTML_HEAD + '<a href="http://x.example/">' * 10000 + "</body></html>\n")
OPEN_TAG = os.path.join(BANGS_DIR, "open_tag.eml")
with open(OPEN_TAG, "w") as f:
    f.write(HTML_HEAD + "<a " + "href=http://x.example " * 20000 + "</body></html>\n")

# A regex past PCRE2's match limit on each of a hundred header values; its captures
# make every step of PCRE2's interpreter costly, so running it again there shows.
LIMIT_RULES = os.path.join(BANGS_DIR, "limit.rules")
with open(LIMIT_RULES, "w") as f:
    f.write('T_LIMIT  header:X-A  /^(?:(a)%s|aa)+(?=b)/  1.0  "past the match limit"\n' % ("(x)?" * 250))
LIMIT_MAIL = os.path.join(BANGS_DIR, "limit.eml")
with open(LIMIT_MAIL, "w") as f:
    f.write("From: a@example.net\nTo: b@example.org\nSubject: limit\n" + ("X-A: " + "a" * 40 + "c\n") * 100
            + "\nbody\n")

# A regex of 200 nested captures: JIT runs out of stack on it, and PCRE2's interpreter
# then took a gigabyte of heap and seconds before its match limit.
HEAP_RULES = os.path.join(BANGS_DIR, "heap.rules")
with open(HEAP_RULES, "w") as f:
    f.write('T_HEAP  body  /(?:%sa%s)*(?=b)c/  1.0  "deep captures"\n' % ("(" * 200, ")" * 200))
HEAP_MAIL = os.path.join(BANGS_DIR, "heap.eml")
with open(HEAP_MAIL, "w") as f:
    f.write("From: a@example.net\nTo: b@example.org\nSubject: heap\n\n" + "a" * 100000 + "c\n")

# Three hundred PCRE2 rules (back-references) that each read the whole of a 1 MB text:
# about a second in all, far past a deadline of 100 ms.
SLOW_RULES = os.path.join(BANGS_DIR, "slow.rules")
with open(SLOW_RULES, "w") as f:
    for i in range(300):
        f.write('T_SLOW_%d  body  /(\\w)(\\w)\\2\\1[0-%d]/  1.0  "back-reference"\n' % (i, i % 10))
SLOW_MAIL = os.path.join(BANGS_DIR, "slow.eml")
with open(SLOW_MAIL, "w") as f:
    f.write("From: a@example.net\nTo: b@example.org\nSubject: slow\n\n" + ("aab ccd eef " * 8 + "\n") * 10000)

# Forty thousand rules, the last repeating the first one's name: the check for repeated
# names compared each rule with all before it, five seconds here, against milliseconds.
MANY_RULES = os.path.join(BANGS_DIR, "many.rules")
with open(MANY_RULES, "w") as f:
    for i in range(40000):
        f.write('PAT_RULE_NUMBER_%06d  body  /word%d/  1.0\n' % (i, i))
    f.write('PAT_RULE_NUMBER_000000  subject  /again/  1.0\n')


def run_case_timed(args, case):
    """modtest.run_case, and the whole run's wall time against the case's max_wall_s."""
    t0 = time.monotonic()
    fails = modtest_run_case(args, case)
    wall = time.monotonic() - t0
    if "max_wall_s" in case and wall > case["max_wall_s"]:
        fails.append("took %.2f s, more than %.1f" % (wall, case["max_wall_s"]))
    return fails


# Failing cases (rc != 0) never reach the scan's own "ms": time the whole run instead.
modtest_run_case = modtest.run_case
modtest.run_case = run_case_timed

TARGETS = ['rules={"rules/targets.rules"}']
META = ['rules={"rules/meta.rules"}']
READER = ['rules={"rules/reader.rules"}']

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
    {"name": "(*UTF) rule still reads text with invalid UTF-8", "fixture": "html_invalid_utf8.eml",
     "opts": ['rules={"rules/utf.rules"}'], "present": ["T_UTF_HS", "T_UTF_PCRE"], "absent": ["T_UTF_NEG"]},
    {"name": "past the match limit with JIT, PCRE2 does not start again", "fixture": LIMIT_MAIL,
     "opts": ['rules={"%s"}' % LIMIT_RULES], "absent": ["T_LIMIT"], "max_ms": 600},
    {"name": "PCRE2's interpreter stops at its heap limit", "fixture": HEAP_MAIL,
     "opts": ['rules={"%s"}' % HEAP_RULES], "absent": ["T_HEAP"], "max_ms": 1000,
     "stderr": ["T_HEAP: PCRE2 could not finish (-63)"]},
    {"name": "a deadline already passed stops the scan before any target", "fixture": "custom_targets.eml",
     "opts": TARGETS, "args": ["--deadline", "0"], "rc": 1, "stderr": ["deadline passed after 0 of"]},
    {"name": "the deadline stops the scan between the rules of one target", "fixture": SLOW_MAIL,
     "opts": ['rules={"%s"}' % SLOW_RULES], "args": ["--deadline", "100"], "rc": 1,
     "stderr": ["deadline passed after 0 of 1 targets"]},
    # Characters a reader does not see, or sees as ASCII, between the letters of a word.
    {"name": "words split by invisible characters still match, and the characters stay readable",
     "fixture": "reader_invisible.eml", "opts": READER,
     "only": ["T_R_SUBJ", "T_R_FROM", "T_R_BODY", "T_R_SPACE", "T_R_ZW"]},
    {"name": "full-width letters and other spaces match as ASCII", "fixture": "reader_fullwidth.eml",
     "opts": READER, "only": ["T_R_SUBJ", "T_R_FROM", "T_R_BODY", "T_R_SPACE"]},
    {"name": "letters in another style (mathematical bold, double-struck, circled, small capitals, "
             "monospace) match as plain ones", "fixture": "reader_styled.eml", "opts": READER,
     "only": ["T_R_SUBJ", "T_R_FROM", "T_R_BODY", "T_R_SPACE"]},
    {"name": "a Latin-1 soft hyphen and no-break space", "fixture": "reader_latin1.eml", "opts": READER,
     "only": ["T_R_BODY", "T_R_SPACE"]},
    {"name": "subject and body read a second Subject, which some clients show",
     "fixture": "reader_two_subjects.eml", "opts": READER, "only": ["T_R_SUBJ", "T_R_BODY"]},
    {"name": "Cyrillic and Greek letters drawn like Latin ones in a Latin word match as those",
     "fixture": "reader_mixed_script.eml", "opts": READER,
     "only": ["T_R_SUBJ", "T_R_FROM", "T_R_BODY", "T_R_SPACE", "T_R_COCO"]},
    {"name": "a word of Cyrillic letters alone is another language, not a disguise",
     "fixture": "reader_cyrillic_words.eml", "opts": READER, "only": []},
    {"name": "visible characters between the letters keep the words apart", "fixture": "reader_visible.eml",
     "opts": READER, "only": []},
    {"name": "verdict=block forces a block", "fixture": "custom_targets.eml", "opts": TARGETS,
     "present": ["T_BLOCK"], "verdict": "block", "status": "detected"},
    {"name": "no verdict without the rule", "fixture": "spam_phrases.eml", "opts": TARGETS,
     "absent": ["T_BLOCK"], "verdict": None},
    {"name": "url target", "fixture": "spam_phrases.eml", "opts": TARGETS, "present": ["T_URL", "T_NEG_PRESENT"]},
    {"name": "filename target", "fixture": "att_exe.eml", "opts": TARGETS, "present": ["T_FILENAME"],
     "absent": ["T_URL"]},
    # A file named .htm sent as application/octet-stream opens in a browser: its markup is HTML.
    {"name": "html target reads a file named .htm whatever its type", "fixture": "html_octet_file.eml",
     "opts": TARGETS, "present": ["T_HTML"]},
    {"name": "html target does not read the same bytes named .bin", "fixture": "html_octet_bin.eml",
     "opts": TARGETS, "absent": ["T_HTML"]},
    # Refusals.
    {"name": "syntax error names file and line", "fixture": "plain.eml",
     "opts": ['rules={"rules/bad_syntax.rules"}'], "rc": 2, "stderr": ["bad_syntax.rules:4:", "T_BROKEN"]},
    {"name": "regex no engine accepts names file and line", "fixture": "plain.eml",
     "opts": ['rules={"rules/bad_regex.rules"}'], "rc": 2, "stderr": ["bad_regex.rules:2:", "T_BAD"]},
    {"name": "score out of range refused with file:line", "fixture": "plain.eml",
     "opts": ['rules={"rules/bad_score.rules"}'], "rc": 2, "stderr": ["bad_score.rules:3: T_HUGE:", "out of range"]},
    {"name": "score in hex refused", "fixture": "plain.eml", "opts": ['rules={"rules/bad_score_hex.rules"}'],
     "rc": 2, "stderr": ["bad_score_hex.rules:3: T_HEX: bad score '0x10' (a decimal number"]},
    {"name": "meta score with an exponent refused", "fixture": "plain.eml",
     "opts": ['rules={"rules/bad_score_exp.rules"}'], "rc": 2,
     "stderr": ["bad_score_exp.rules:4: T_EXP: bad score '1e1' (a decimal number"]},
    {"name": "duplicate rule name refused", "fixture": "plain.eml",
     "opts": ['rules={"rules/duplicate.rules"}'], "rc": 2, "stderr": ["duplicate.rules:2:", "T_ONE"]},
    {"name": "a repeated name among forty thousand rules is found at once", "fixture": "plain.eml",
     "opts": ['rules={"%s"}' % MANY_RULES], "rc": 2, "max_wall_s": 1.5,
     "stderr": ["many.rules:40001: PAT_RULE_NUMBER_000000: already defined at", "many.rules:1"]},
    {"name": "two verdicts on one rule refused", "fixture": "plain.eml",
     "opts": ['rules={"rules/bad_verdict.rules"}'], "rc": 2,
     "stderr": ["bad_verdict.rules:3: T_TWICE:", "verdict=spam", "one verdict"]},
    {"name": "negate given twice refused", "fixture": "plain.eml",
     "opts": ['rules={"rules/bad_negate.rules"}'], "rc": 2,
     "stderr": ["bad_negate.rules:2: T_NEG2:", "negate given twice"]},
    {"name": "missing rule file refused", "fixture": "plain.eml",
     "opts": ['rules={"rules/no-such.rules"}'], "rc": 2, "stderr": ["no-such.rules"]},
    # Meta rules, with tests/modules/fixtures/rules/meta.rules.
    {"name": "meta: && fires when both parts do", "fixture": "spam_phrases.eml", "opts": META,
     "present": ["M_AND"], "absent": ["M_AND_MISS"], "scores": {"M_AND": 2.0}, "details": {"M_AND": "both parts"}},
    {"name": "meta: && stays quiet when a part is missing", "fixture": "plain.eml", "opts": META,
     "absent": ["M_AND", "M_NOT", "M_COUNT2"]},
    {"name": "meta: || and ! (negation)", "fixture": "spam_phrases.eml", "opts": META,
     "present": ["M_OR", "M_NOT"], "absent": ["M_NOT_MISS"]},
    {"name": "meta: ! of a part that did not fire", "fixture": "plain.eml", "opts": META,
     "present": ["M_OR", "M_NOT_MISS"]},
    {"name": "meta: && binds tighter than ||, parentheses regroup", "fixture": "spam_phrases.eml",
     "opts": META, "present": ["M_PREC"], "absent": ["M_PAREN"]},
    {"name": "meta: count form (A + B + C) >= N", "fixture": "spam_phrases.eml", "opts": META,
     "present": ["M_COUNT2", "M_COUNT_EQ"], "absent": ["M_COUNT3"]},
    {"name": "meta: reads a negate rule as fired when its header is missing", "fixture": "no_msgid_date.eml",
     "opts": META, "present": ["M_NO_DATE", "M_NEGATED_RULE"]},
    {"name": "meta: a negate rule that did not fire", "fixture": "spam_phrases.eml", "opts": META,
     "absent": ["M_NO_DATE", "M_NEGATED_RULE"]},
    {"name": "meta: metas of metas, in any order, through a __ meta", "fixture": "spam_phrases.eml",
     "opts": META, "present": ["M_META_OF_META", "M_LATER", "M_FROM_HIDDEN"], "verdict": "spam"},
    {"name": "meta: __ rules add no symbol, score 0 rules do", "fixture": "spam_phrases.eml", "opts": META,
     "absent": ["__PHARMACY", "__LOTTERY", "__HIDDEN_META"], "present": ["M_WINNER"], "scores": {"M_WINNER": 0}},
    {"name": "meta: only the expected symbols", "fixture": "spam_phrases.eml", "opts": META,
     "only": ["M_WINNER", "M_AND", "M_OR", "M_NOT", "M_PREC", "M_COUNT2", "M_COUNT_EQ", "M_META_OF_META",
              "M_LATER", "M_FROM_HIDDEN"]},
    {"name": "meta: cycle refused, naming rule and file:line", "fixture": "plain.eml",
     "opts": ['rules={"rules/meta_cycle.rules"}'], "rc": 2,
     "stderr": ["meta_cycle.rules:4: T_A:", "cycle", "T_A -> T_B -> T_C -> T_A"]},
    {"name": "meta: a million '!' is refused with file:line, not a crash", "fixture": "plain.eml",
     "opts": ['rules={"%s"}' % BANGS], "rc": 2, "stderr": ["bangs.rules:2: T_BANGS:", "too many '!'"]},
    {"name": "meta: reading itself is a cycle", "fixture": "plain.eml",
     "opts": ['rules={"rules/meta_self.rules"}'], "rc": 2, "stderr": ["meta_self.rules:2: T_SELF:", "cycle"]},
    {"name": "meta: unknown rule name refused with file:line", "fixture": "plain.eml",
     "opts": ['rules={"rules/meta_unknown.rules"}'], "rc": 2,
     "stderr": ["meta_unknown.rules:3: T_USES_MISSING:", "unknown rule 'T_NOT_DEFINED'"]},
    {"name": "meta: unbalanced parenthesis refused", "fixture": "plain.eml",
     "opts": ['rules={"rules/meta_syntax.rules"}'], "rc": 2, "stderr": ["meta_syntax.rules:3: T_UNBALANCED:", "')'"]},
    {"name": "meta: names resolve across rule files", "fixture": "plain.eml",
     "opts": ['rules={"rules/meta_unknown.rules", "rules/meta_defines.rules"}'], "present": ["T_USES_MISSING"]},
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
    {"name": "default: link text shows another site behind 5,000 tags (PCRE2 JIT stack)",
     "fixture": "html_link_mismatch_deep.eml", "defaults": True, "present": ["PAT_HTML_LINK_MISMATCH"]},
    {"name": "default: an empty link's text is not the next link's", "fixture": "html_link_next.eml",
     "defaults": True, "absent": ["PAT_HTML_LINK_MISMATCH"]},
    {"name": "default: ten thousand empty links take no time", "fixture": EMPTY_LINKS, "defaults": True,
     "absent": ["PAT_HTML_LINK_MISMATCH"], "max_ms": 400},
    {"name": "default: a tag with twenty thousand hrefs takes no time", "fixture": OPEN_TAG, "defaults": True,
     "absent": ["PAT_HTML_LINK_MISMATCH"], "max_ms": 400},
    {"name": "default: a subject in capitals", "fixture": "subject_caps.eml", "defaults": True,
     "present": ["PAT_SUBJ_ALL_CAPS"]},
    {"name": "default: a Cyrillic subject with Latin acronyms is not all capitals",
     "fixture": "subject_cyrillic.eml", "defaults": True, "absent": ["PAT_SUBJ_ALL_CAPS"]},
    {"name": "default: link text matching its link", "fixture": "html_link_match.eml", "defaults": True,
     "absent": ["PAT_HTML_LINK_MISMATCH", "PAT_HTML_IMAGE_ONLY", "PAT_HTML_HIDDEN_CSS"]},
    {"name": "default: image-only HTML", "fixture": "html_image_only.eml", "defaults": True,
     "present": ["PAT_HTML_IMAGE_ONLY"]},
    {"name": "default: text hidden by CSS in base64 HTML", "fixture": "html_hidden_css_b64.eml",
     "defaults": True, "present": ["PAT_HTML_HIDDEN_CSS"]},
    {"name": "default: text hidden by CSS", "fixture": "html_hidden_css.eml", "defaults": True,
     "present": ["PAT_HTML_HIDDEN_CSS"], "absent": ["PAT_HTML_IMAGE_ONLY"]},
    {"name": "default: HTML tricks meta needs two tricks", "fixture": "spam_phrases.eml", "defaults": True,
     "present": ["PAT_URL_IP", "PAT_URL_SHORTENER", "PAT_HTML_TRICKS"]},
    {"name": "default: one trick alone is not enough", "fixture": "html_image_only.eml", "defaults": True,
     "present": ["PAT_HTML_IMAGE_ONLY"], "absent": ["PAT_HTML_TRICKS"]},
    {"name": "default: a link host mixing Latin and Cyrillic in the text", "fixture": "url_mixed_script.eml",
     "defaults": True, "present": ["PAT_URL_MIXED_SCRIPT"], "scores": {"PAT_URL_MIXED_SCRIPT": 1.5},
     "absent": ["__URL_MIXED_SCRIPT_TEXT", "__URL_MIXED_SCRIPT_HTML"]},
    {"name": "default: a link host mixing Latin and Cyrillic in an href", "fixture": "url_mixed_script_html.eml",
     "defaults": True, "present": ["PAT_URL_MIXED_SCRIPT"]},
    {"name": "default: hosts of one script, and text glued to a link, are no mix", "fixture": "url_idn_clean.eml",
     "defaults": True, "status": "clean", "only": []},
    {"name": "default: an IPv6 literal is a bare IP, and its colons no port", "fixture": "url_ipv6.eml",
     "defaults": True, "present": ["PAT_URL_IP"], "absent": ["PAT_URL_ODD_PORT"]},
    # The attachment module's ATT_DOUBLE_EXT reads every attached file's name for this: no
    # rule counts it a second time.
    {"name": "default: a double extension is left to the attachment module", "fixture": "att_double_ext.eml",
     "defaults": True, "absent": ["PAT_FILENAME_DOUBLE_EXT"]},
    # Current lures (the hand-set section of default.rules): each rule on its lure, and
    # not on a legitimate message that looks like it.
    {"name": "default: password expiry that offers to keep the password, on a web.app page",
     "fixture": "lure_password_keep.eml", "defaults": True,
     "present": ["PAT_PASSWORD_EXPIRES", "PAT_PASSWORD_KEEP", "PAT_URL_CLOUD_HOST", "PAT_CLOUD_LINK_LURE"],
     "scores": {"PAT_PASSWORD_EXPIRES": 0.5, "PAT_PASSWORD_KEEP": 2.0, "PAT_URL_CLOUD_HOST": 0.5,
                "PAT_CLOUD_LINK_LURE": 2.0}, "absent": ["__PHISH_LURE", "__PASSWORD_KEEP"]},
    {"name": "default: an IT department's password notice is only a weak sign",
     "fixture": "lookalike_password_notice.eml", "defaults": True, "only": ["PAT_PASSWORD_EXPIRES"]},
    {"name": "default: a password reset may say 'keep using your current password'",
     "fixture": "lookalike_password_reset.eml", "defaults": True, "status": "clean", "only": []},
    {"name": "default: a login lure on an IPFS gateway and a form service",
     "fixture": "lure_ipfs_link.eml", "defaults": True,
     "present": ["PAT_PHISH_MAILBOX_FULL", "PAT_URL_CLOUD_HOST", "PAT_CLOUD_LINK_LURE"]},
    {"name": "default: a newsletter's image on cloud storage is no cloud link",
     "fixture": "lookalike_cloud_image.eml", "defaults": True, "only": ["PAT_HTML_ONLY"]},
    {"name": "default: a document to review and sign, as an HTML attachment",
     "fixture": "lure_doc_shared_html.eml", "defaults": True,
     "present": ["PAT_DOC_SHARED", "PAT_ATT_HTML", "PAT_HTML_ATTACH_LURE"], "scores": {"PAT_HTML_ATTACH_LURE": 3.0}},
    {"name": "default: a real share notice links to the document: a weak sign alone",
     "fixture": "lookalike_doc_shared.eml", "defaults": True, "only": ["PAT_DOC_SHARED"]},
    {"name": "default: an invoice as an SVG attachment", "fixture": "lure_invoice_svg.eml", "defaults": True,
     "present": ["PAT_INVOICE_ATTACHED", "PAT_ATT_HTML", "PAT_HTML_ATTACH_LURE"]},
    {"name": "default: an HTML attachment without a lure", "fixture": "lookalike_html_attachment.eml",
     "defaults": True, "only": ["PAT_ATT_HTML"]},
    {"name": "default: an invoice as a PDF is no HTML attachment", "fixture": "att_clean_invoice.eml",
     "defaults": True, "status": "clean", "only": []},
    {"name": "default: From name holding an address at another domain, with a lure",
     "fixture": "lure_from_addr_name.eml", "defaults": True,
     "present": ["PAT_FROM_NAME_HAS_ADDR", "PAT_PHISH_VERIFY", "PAT_FROM_SPOOF_LURE"],
     "scores": {"PAT_FROM_NAME_HAS_ADDR": 1.5, "PAT_FROM_SPOOF_LURE": 2.0}},
    {"name": "default: From name holding the sender's own address", "fixture": "lookalike_from_addr_same.eml",
     "defaults": True, "only": ["PAT_PHISH_VERIFY"]},
    {"name": "default: From name holding an address of the sender's parent domain",
     "fixture": "lookalike_from_addr_subdomain.eml", "defaults": True, "only": ["PAT_PHISH_VERIFY"]},
    {"name": "default: a list's 'address via Group' From name", "fixture": "lookalike_from_addr_group.eml",
     "defaults": True, "status": "clean", "only": []},
    {"name": "default: brand name in the From name of a free-mail address",
     "fixture": "lure_from_brand_freemail.eml", "defaults": True,
     "present": ["PAT_FROM_BRAND_FREEMAIL", "PAT_FROM_SPOOF_LURE"], "scores": {"PAT_FROM_BRAND_FREEMAIL": 1.5},
     "absent": ["__FROM_NAME_BRAND", "__FROM_FREEMAIL"]},
    {"name": "default: the brand's own address", "fixture": "lookalike_from_brand_real.eml", "defaults": True,
     "status": "clean", "only": []},
    {"name": "default: a person named like a bank, at free mail", "fixture": "lookalike_from_person_freemail.eml",
     "defaults": True, "status": "clean", "only": []},
    {"name": "default: a person named like an antivirus, at free mail",
     "fixture": "lookalike_from_surname_freemail.eml", "defaults": True, "status": "clean", "only": []},
    # U+202E in a file name is the attachment module's ATT_RTLO_NAME: the rule leaves it, so
    # that one trick does not count twice.
    {"name": "default: right-to-left override in an HTML attachment's name",
     "fixture": "lure_filename_rlo_html.eml", "defaults": True,
     "present": ["PAT_ATT_HTML", "PAT_HTML_ATTACH_LURE"], "absent": ["PAT_FILENAME_BIDI"]},
    {"name": "default: right-to-left override in a file name", "fixture": "att_rtlo.eml", "defaults": True,
     "absent": ["PAT_FILENAME_BIDI"]},
    {"name": "default: a left-to-right override in a file name", "fixture": "lure_filename_lro.eml",
     "defaults": True, "only": ["PAT_FILENAME_BIDI"], "scores": {"PAT_FILENAME_BIDI": 2.0}},
    {"name": "default: a left-to-right override in a Content-Type name= only", "fixture": "att_two_names_bidi.eml",
     "defaults": True, "only": ["PAT_FILENAME_BIDI"]},
    {"name": "default: a direction isolate in a file name", "fixture": "lure_filename_isolate.eml",
     "defaults": True, "present": ["PAT_FILENAME_BIDI"]},
    {"name": "default: an Arabic file name has no override", "fixture": "lookalike_filename_arabic.eml",
     "defaults": True, "status": "clean", "only": []},
    {"name": "default: zero-width characters inside words of Subject and From",
     "fixture": "lure_subject_zero_width.eml", "defaults": True, "present": ["PAT_HDR_INVISIBLE"],
     "scores": {"PAT_HDR_INVISIBLE": 1.5}},
    {"name": "default: a right-to-left override in the Subject", "fixture": "lure_subject_rlo.eml",
     "defaults": True, "present": ["PAT_HDR_INVISIBLE"]},
    {"name": "default: an emoji sequence and Hebrew marks in the Subject", "fixture": "lookalike_subject_emoji.eml",
     "defaults": True, "status": "clean", "only": []},
    {"name": "default: Latin words with Cyrillic and Greek look-alike letters", "defaults": True,
     "fixture": "reader_mixed_script.eml", "present": ["PAT_WORD_MIXED_SCRIPT"],
     "scores": {"PAT_WORD_MIXED_SCRIPT": 1.5}},
    {"name": "default: a Subject in mathematical bold letters", "defaults": True,
     "fixture": "reader_styled.eml", "present": ["PAT_SUBJ_STYLED"], "scores": {"PAT_SUBJ_STYLED": 1.0}},
    {"name": "default: a Subject with emoji and marks is not styled", "defaults": True,
     "fixture": "lookalike_subject_emoji.eml", "absent": ["PAT_SUBJ_STYLED"]},
    {"name": "default: Russian text is no disguise", "defaults": True,
     "fixture": "reader_cyrillic_words.eml", "absent": ["PAT_WORD_MIXED_SCRIPT"]},
    {"name": "default: words split by letters hidden by CSS", "fixture": "lure_html_hidden_split.eml",
     "defaults": True, "present": ["PAT_HTML_HIDDEN_SPLIT"], "scores": {"PAT_HTML_HIDDEN_SPLIT": 1.5}},
    {"name": "default: words split by letters hidden by CSS, with tags inside", "defaults": True,
     "fixture": "lure_html_hidden_split_tags.eml", "present": ["PAT_HTML_HIDDEN_SPLIT"]},
    {"name": "default: a hidden preview text, padding and dot split no word", "defaults": True,
     "fixture": "lookalike_html_hidden_preview.eml", "absent": ["PAT_HTML_HIDDEN_SPLIT"]},
    {"name": "default: words broken by zero-width characters in the text", "fixture": "lure_body_zero_width.eml",
     "defaults": True, "present": ["PAT_ZERO_WIDTH_SPLIT"], "scores": {"PAT_ZERO_WIDTH_SPLIT": 2.0},
     "absent": ["__ZERO_WIDTH_TEXT", "__ZERO_WIDTH_HTML"]},
    {"name": "default: words broken by zero-width character references in HTML",
     "fixture": "lure_body_zero_width_html.eml", "defaults": True, "present": ["PAT_ZERO_WIDTH_SPLIT"]},
    {"name": "default: a newsletter's padding, footer, emoji and Persian zero-widths",
     "fixture": "lookalike_body_zero_width.eml", "defaults": True, "only": ["PAT_HTML_ONLY"]},
    {"name": "default: sextortion: Bitcoin address, claimed recording, deadline", "fixture": "lure_sextortion.eml",
     "defaults": True, "present": ["PAT_SEXTORTION"], "scores": {"PAT_SEXTORTION": 4.0},
     "absent": ["__BTC_ADDR", "__SEXT_SPY", "__SEXT_THREAT"]},
    {"name": "default: a Bitcoin address for donations", "fixture": "lookalike_bitcoin_donation.eml",
     "defaults": True, "status": "clean", "only": []},
    {"name": "default: a warning about sextortion, with no address", "fixture": "lookalike_sextortion_news.eml",
     "defaults": True, "status": "clean", "only": []},
    {"name": "default: a crypto giveaway", "fixture": "lure_crypto_giveaway.eml", "defaults": True,
     "present": ["PAT_CRYPTO_GIVEAWAY"], "scores": {"PAT_CRYPTO_GIVEAWAY": 2.0}},
    {"name": "default: send coins, get double back", "fixture": "lure_crypto_double.eml", "defaults": True,
     "present": ["PAT_CRYPTO_GIVEAWAY"]},
    {"name": "default: market news and an unrelated giveaway", "fixture": "lookalike_crypto_news.eml",
     "defaults": True, "status": "clean", "only": []},
    {"name": "default: an exchange's deposit instructions", "fixture": "lookalike_crypto_deposit.eml",
     "defaults": True, "status": "clean", "only": []},
    # One sign alone (a warning that names the scam, a rewards offer) is no giveaway.
    {"name": "default: a warning about crypto giveaways", "fixture": "lookalike_crypto_warning.eml",
     "defaults": True, "absent": ["PAT_CRYPTO_GIVEAWAY"]},
    {"name": "default: double rewards points for a deposit", "fixture": "lookalike_crypto_rewards.eml",
     "defaults": True, "absent": ["PAT_CRYPTO_GIVEAWAY"]},
    {"name": "default: an IT notice that keeps the password until it expires",
     "fixture": "lookalike_password_until.eml", "defaults": True, "absent": ["PAT_PASSWORD_KEEP"]},
    {"name": "default: a shop's invoice through a mailing service", "fixture":
     "lookalike_from_addr_esp_invoice.eml", "defaults": True, "absent": ["PAT_FROM_SPOOF_LURE"]},
]

if __name__ == "__main__":
    import sys
    args = modtest.parse_args()
    etc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc")
    # Every case starts the module afresh. They share one data folder so that
    # each rule set's Hyperscan databases are compiled once and loaded from the
    # module's cache after that (about a second against 50 ms per start); the
    # cache is keyed by the rules' text, and test_pattern_engines.py shows that
    # cached databases give the same results as compiled ones.
    data = os.path.join(BANGS_DIR, "data")
    for case in CASES:
        case["config_dir"] = etc if case.pop("defaults", False) else args.fixtures
        case["data_dir"] = data
    sys.argv = sys.argv[:1] + ["--modtest", args.modtest, "--module", args.module, "--fixtures", args.fixtures]
    if args.shims:
        sys.argv += ["--shims", args.shims]
    modtest.main(CASES)
