#!/usr/bin/env bash
# Real-client tests: the system curl (imap:// URLs) against a running Crispin.
#
# Environment: IMAP_HOST, IMAP_PORT, IMAP_USER, IMAP_PASSWORD.
# Works in a mailbox of its own ("curl-test"), created here, so it does
# not depend on what other tests left behind.
set -euo pipefail

: "${IMAP_HOST:?}" "${IMAP_PORT:?}" "${IMAP_USER:?}" "${IMAP_PASSWORD:?}"
base="imap://${IMAP_HOST}:${IMAP_PORT}"
box="curl-test"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
pass() { printf 'ok   - %s\n' "$1"; }
fail() {
    printf 'FAIL - %s\n' "$1"
    failures=$((failures + 1))
}

# curl with a time bound, credentials, and errors shown. Extra arguments
# are passed through.
icurl() {
    curl --silent --show-error --max-time 20 --user "${IMAP_USER}:${IMAP_PASSWORD}" "$@"
}

# Compares a file with the expected bytes (given as a file).
expect_same() { # name expected actual
    if cmp -s "$2" "$3"; then
        pass "$1"
    else
        fail "$1"
        echo "  expected:"
        od -c "$2" | head -20 | sed 's/^/    /'
        echo "  got:"
        od -c "$3" | head -20 | sed 's/^/    /'
    fi
}

# Asserts that a file has a line matching an extended regex.
expect_line() { # name regex file
    if grep -Eq -- "$2" "$3"; then
        pass "$1"
    else
        fail "$1"
        echo "  no line matching /$2/ in:"
        sed 's/^/    /' "$3"
    fi
}

printf 'From: Carol <carol@example.org>\r\nTo: Alice <alice@example.org>\r\nSubject: curl upload one\r\nDate: Thu, 18 Jan 2024 09:00:00 +0000\r\nMessage-ID: <curl-1@example.org>\r\n\r\nFirst message sent by curl.\r\n' >"$work/one.eml"
printf 'From: Dave <dave@example.org>\r\nTo: Alice <alice@example.org>\r\nSubject: curl upload two\r\nDate: Fri, 19 Jan 2024 09:00:00 +0000\r\nMessage-ID: <curl-2@example.org>\r\n\r\nSecond message, mentions pineapple.\r\n' >"$work/two.eml"

# Start from a clean slate (the mailbox may exist from an earlier run).
icurl "$base/" -X "DELETE $box" >/dev/null 2>&1 || true
if icurl "$base/" -X "CREATE $box" >"$work/create.out"; then
    pass "CREATE via -X"
else
    fail "CREATE via -X"
fi

# APPEND via upload (-T).
if icurl -T "$work/one.eml" "$base/$box" && icurl -T "$work/two.eml" "$base/$box"; then
    pass "APPEND via upload"
else
    fail "APPEND via upload"
fi

# LIST: the URL of the root lists all mailboxes.
icurl "$base/" >"$work/list.out"
expect_line "LIST shows INBOX" '^\* LIST \([^)]*\) "/" "?INBOX"?'$'\r''?$' "$work/list.out"
expect_line "LIST shows the new mailbox" '^\* LIST \([^)]*\) "/" "?'"$box"'"?'$'\r''?$' "$work/list.out"

# FETCH by UID: curl prints the message bytes exactly.
icurl "$base/$box;UID=1" >"$work/uid1.out"
expect_same "FETCH ;UID=1 returns the message" "$work/one.eml" "$work/uid1.out"
icurl "$base/$box;UID=2" >"$work/uid2.out"
expect_same "FETCH ;UID=2 returns the message" "$work/two.eml" "$work/uid2.out"

# A section and a partial fetch.
icurl "$base/$box;UID=2;SECTION=TEXT" >"$work/text.out"
printf 'Second message, mentions pineapple.\r\n' >"$work/text.expected"
expect_same "FETCH ;SECTION=TEXT" "$work/text.expected" "$work/text.out"
icurl "$base/$box;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)" >"$work/subject.out"
printf 'Subject: curl upload one\r\n\r\n' >"$work/subject.expected"
expect_same "FETCH ;SECTION=HEADER.FIELDS (SUBJECT)" "$work/subject.expected" "$work/subject.out"
icurl "$base/$box;UID=1;PARTIAL=0.4" >"$work/partial.out"
printf 'From' >"$work/partial.expected"
expect_same "FETCH ;PARTIAL=0.4" "$work/partial.expected" "$work/partial.out"

# INBOX: upload, find the UID by Message-ID, fetch INBOX;UID=n, remove it.
msgid="<curl-inbox-$$-$RANDOM@example.org>"
printf 'From: Erin <erin@example.org>\r\nSubject: curl to INBOX\r\nMessage-ID: %s\r\n\r\nInto the INBOX.\r\n' "$msgid" >"$work/inbox.eml"
icurl -T "$work/inbox.eml" "$base/INBOX"
icurl "$base/INBOX" -X "UID SEARCH HEADER Message-ID \"$msgid\"" >"$work/inbox-search.out"
uid=$(sed -n 's/^\* SEARCH \([0-9][0-9]*\)\r\{0,1\}$/\1/p' "$work/inbox-search.out")
if [ -n "$uid" ]; then
    pass "UID SEARCH HEADER Message-ID in INBOX (UID $uid)"
    icurl "$base/INBOX;UID=$uid" >"$work/inbox.out"
    expect_same "FETCH INBOX;UID=$uid" "$work/inbox.eml" "$work/inbox.out"
    icurl "$base/INBOX" -X "UID STORE $uid +FLAGS.SILENT (\\Deleted)" >/dev/null
    icurl "$base/INBOX" -X "UID EXPUNGE $uid" >"$work/inbox-expunge.out"
    expect_line "UID EXPUNGE in INBOX" '^\* [0-9]+ EXPUNGE'$'\r''?$' "$work/inbox-expunge.out"
else
    fail "UID SEARCH HEADER Message-ID in INBOX"
    sed 's/^/    /' "$work/inbox-search.out"
fi

# A missing UID fails (curl reports an error), rather than returning junk.
if icurl "$base/$box;UID=99" >"$work/missing.out" 2>"$work/missing.err"; then
    if [ -s "$work/missing.out" ]; then
        fail "FETCH of a missing UID returns nothing"
    else
        pass "FETCH of a missing UID returns nothing"
    fi
else
    pass "FETCH of a missing UID fails"
fi

# SEARCH via a custom request on a mailbox URL (curl SELECTs first).
icurl "$base/$box" -X 'UID SEARCH BODY pineapple' >"$work/search1.out"
expect_line "UID SEARCH BODY" '^\* SEARCH 2'$'\r''?$' "$work/search1.out"
icurl "$base/$box" -X 'UID SEARCH OR FROM carol SUBJECT "upload two"' >"$work/search2.out"
expect_line "UID SEARCH OR" '^\* SEARCH 1 2'$'\r''?$' "$work/search2.out"
icurl "$base/$box" -X 'UID SEARCH SENTSINCE 19-Jan-2024' >"$work/search3.out"
expect_line "UID SEARCH SENTSINCE" '^\* SEARCH 2'$'\r''?$' "$work/search3.out"
icurl "$base/$box" -X 'UID SEARCH SUBJECT nothing-matches' >"$work/search4.out"
expect_line "UID SEARCH with no match" '^\* SEARCH'$'\r''?$' "$work/search4.out"
# curl's URL search form: ?criteria
icurl "$base/$box?SUBJECT%20%22upload%20one%22" >"$work/search5.out"
expect_line "URL ?SEARCH" '^\* SEARCH 1'$'\r''?$' "$work/search5.out"

# Both SASL mechanisms curl speaks here: PLAIN (with SASL-IR) and LOGIN.
# (The LOGIN command, "AUTH=+LOGIN", needs a newer curl than Debian 12's
# 7.88; imaplib_test.py covers it.)
for opt in "AUTH=PLAIN" "AUTH=LOGIN"; do
    if icurl --login-options "$opt" "$base/$box;UID=1" >"$work/auth.out" &&
        cmp -s "$work/one.eml" "$work/auth.out"; then
        pass "login with --login-options $opt"
    else
        fail "login with --login-options $opt"
    fi
done

# A wrong password is refused.
if curl --silent --max-time 20 --user "${IMAP_USER}:wrong-${IMAP_PASSWORD}" "$base/" >/dev/null 2>&1; then
    fail "wrong password refused"
else
    pass "wrong password refused"
fi

# Clean up.
if icurl "$base/" -X "DELETE $box" >/dev/null; then
    pass "DELETE via -X"
else
    fail "DELETE via -X"
fi
icurl "$base/" >"$work/list2.out"
if grep -Eq '"?'"$box"'"?'$'\r''?$' "$work/list2.out"; then
    fail "mailbox gone after DELETE"
else
    pass "mailbox gone after DELETE"
fi

if [ "$failures" -ne 0 ]; then
    echo "curl_test: $failures failure(s)"
    exit 1
fi
echo "curl_test: all passed"
