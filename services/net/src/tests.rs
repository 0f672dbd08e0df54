use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn reserved_addresses() {
    for ip in [
        "0.1.2.3",
        "10.1.2.3",
        "100.64.0.1",
        "100.127.255.254",
        "127.0.0.1",
        "127.9.9.9",
        "169.254.169.254",
        "172.16.5.4",
        "172.31.0.1",
        "192.0.0.8",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.0.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::127.0.0.1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "64:ff9b::7f00:1",
        "64:ff9b:1::1",
        "100::1",
        "2001::1",
        "2001:db8::1",
        "2002:7f00:1::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
    ] {
        assert!(is_reserved(ip.parse().unwrap()), "{ip}");
    }
    for ip in [
        "8.8.8.8",
        "1.1.1.1",
        "100.128.0.1",
        "172.32.0.1",
        "198.20.0.1",
        "2606:4700::1111",
        "2a00:1450::1",
    ] {
        assert!(!is_reserved(ip.parse().unwrap()), "{ip}");
    }
}

fn policy(allowed: &[&str]) -> Policy {
    Policy::from_settings(&NetworkSettings {
        allowed_addresses: allowed.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn urls_and_exceptions() {
    let p = policy(&["10.0.0.5:8080", "192.168.1.0/24", "fd00::1"]);
    assert!(matches!(
        p.check_url("ftp://x"),
        Err(NetError::InvalidUrl(_))
    ));
    assert!(matches!(
        p.check_url("file:///etc/passwd"),
        Err(NetError::InvalidUrl(_))
    ));
    for blocked in [
        "http://127.0.0.1:8080/x",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0/",
        "http://10.0.0.5:9090/",
    ] {
        assert!(
            matches!(p.check_url(blocked), Err(NetError::Blocked(_))),
            "{blocked}"
        );
    }
    for ok in [
        "https://example.com/a",
        "http://10.0.0.5:8080/x",
        "http://192.168.1.20/",
        "http://[fd00::1]:99/",
    ] {
        assert!(p.check_url(ok).is_ok(), "{ok}");
    }
    assert!(Policy::from_settings(&NetworkSettings {
        allowed_addresses: vec!["nonsense".into()],
        ..Default::default()
    })
    .is_err());
    assert!(Policy::open().check_url("http://127.0.0.1/").is_ok());
}

/// A one-shot HTTP server on loopback answering each connection with `reply`.
async fn serve(reply: String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

fn ok_reply(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn outbound(allowed: &[&str]) -> Outbound {
    Outbound::new(&NetworkSettings {
        allowed_addresses: allowed.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .unwrap()
}

async fn get(o: &Outbound, url: &str) -> Result<Bytes, NetError> {
    o.fetch(url, 1024, Duration::from_secs(5)).await
}

#[tokio::test]
async fn loopback_in_every_form_is_refused() {
    let addr = serve(ok_reply("secret")).await;
    let o = outbound(&[]);
    let port = addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let err = get(&o, &url).await.unwrap_err();
        assert!(matches!(err, NetError::Blocked(_)), "{url}: {err:?}");
    }
    // The connector's own check, without the URL check in front of it.
    let err = o
        .client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(transfer(err), NetError::Blocked(_)));
    // An unresolvable name fails closed.
    let err = get(&o, "http://no-such-host.invalid/").await.unwrap_err();
    assert!(matches!(err, NetError::Unresolved(_)), "{err:?}");
    // Allowed by the operator: reachable.
    let o = outbound(&[&addr.to_string()]);
    assert_eq!(
        get(&o, &format!("http://127.0.0.1:{port}/")).await.unwrap(),
        "secret"
    );
}

#[tokio::test]
async fn a_redirect_to_loopback_is_refused() {
    let target = serve(ok_reply("internal")).await;
    let hop = serve(format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        target.port()
    ))
    .await;
    // Only the first hop is allowed, as a public server would be.
    let o = outbound(&[&hop.to_string()]);
    let err = get(&o, &format!("http://127.0.0.1:{}/", hop.port()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::Transfer(_) | NetError::Blocked(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("blocked"), "{err}");
}

#[tokio::test]
async fn bodies_are_capped() {
    let big = serve(ok_reply(&"x".repeat(5000))).await;
    let o = outbound(&[&big.to_string()]);
    let err = get(&o, &format!("http://{big}/")).await.unwrap_err();
    assert!(matches!(err, NetError::TooLarge(1024)), "{err:?}");
    // Without a length, the stream is cut at the cap.
    let chunked = serve(format!(
        "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{}",
        "y".repeat(5000)
    ))
    .await;
    let o = outbound(&[&chunked.to_string()]);
    let err = get(&o, &format!("http://{chunked}/")).await.unwrap_err();
    assert!(matches!(err, NetError::TooLarge(1024)), "{err:?}");
}

#[test]
fn proxies_from_the_environment_are_ignored() {
    // The guarded client is built with `no_proxy`; a configured proxy replaces the guard.
    let o = Outbound::new(&NetworkSettings {
        proxy: "http://127.0.0.1:3128".into(),
        ..Default::default()
    });
    assert!(o.is_ok());
    assert!(Outbound::new(&NetworkSettings {
        proxy: "::not a url::".into(),
        ..Default::default()
    })
    .is_err());
}
