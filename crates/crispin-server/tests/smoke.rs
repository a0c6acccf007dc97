//! The shortest path through the server: log in, append, fetch.

use crispin_testkit::*;

#[tokio::test]
async fn login_append_fetch_logout() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let st = c.append("INBOX", "(\\Seen)", &message("hi", "hello")).await;
    assert!(st.contains("OK [APPENDUID "), "{st}");
    let sel = c.ok("SELECT INBOX").await;
    assert!(sel.contains(&"* 1 EXISTS".to_string()), "{sel:?}");
    let f = c.ok("FETCH 1 (FLAGS BODY.PEEK[TEXT])").await;
    assert_eq!(
        f,
        vec!["* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[TEXT] {7}\r\nhello\r\n)"]
    );
    let bye = c.cmd("LOGOUT").await;
    assert_eq!(bye[0], "* BYE Logging out");
    server.shutdown().await;
}
