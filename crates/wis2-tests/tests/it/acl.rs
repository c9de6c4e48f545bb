//! The broker's accounts and ACL: anonymous access refused, each service confined to
//! its own topics, `everyone` read-only on the centre's WIS2 topics.

use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS};

use wis2_tests::broker::{Broker, password};
use wis2_tests::fixtures::TOPIC;
use wis2_tests::observer::Observer;

/// Connects and publishes one QoS 1 message, returning once the broker acknowledged
/// it (mosquitto acknowledges denied publishes too, and drops them).
async fn publish_as(b: &Broker, user: &str, pw: &str, topic: &str, payload: &str) {
    let mut o = MqttOptions::new(
        format!("acl-{}", uuid::Uuid::new_v4().simple()),
        "127.0.0.1",
        b.port,
    );
    o.set_credentials(user, pw);
    let (client, mut el) = AsyncClient::new(o, 10);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload)
        .await
        .expect("queue");
    let acked = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return true,
                Ok(_) => {}
                Err(e) => panic!("{user} could not connect: {e}"),
            }
        }
    })
    .await
    .expect("puback in time");
    assert!(acked);
}

async fn connect_error(b: &Broker, creds: Option<(&str, &str)>) -> ConnectionError {
    let mut o = MqttOptions::new(
        format!("acl-{}", uuid::Uuid::new_v4().simple()),
        "127.0.0.1",
        b.port,
    );
    if let Some((u, p)) = creds {
        o.set_credentials(u, p);
    }
    let (_client, mut el) = AsyncClient::new(o, 10);
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(a))) => panic!("connection accepted: {a:?}"),
            Ok(_) => {}
            Err(e) => return e,
        }
    }
}

#[tokio::test]
async fn anonymous_and_wrong_passwords_are_refused() {
    let b = Broker::start();
    let e = connect_error(&b, None).await;
    assert!(
        matches!(
            e,
            ConnectionError::ConnectionRefused(
                ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword
            )
        ),
        "{e:?}"
    );
    let e = connect_error(&b, Some(("wis2-publish", "wrong"))).await;
    assert!(matches!(e, ConnectionError::ConnectionRefused(_)), "{e:?}");
}

#[tokio::test]
async fn services_publish_only_on_their_topics_and_everyone_only_reads() {
    let b = Broker::start();
    let mut op = Observer::connect(&b, "operator", &["origin/a/wis2/#", "chain/#"]).await;
    let mut everyone =
        Observer::connect(&b, "everyone", &["origin/a/wis2/fr-ifremer-argo/#"]).await;
    let everyone_pw = "everyone";
    // Denied first, then an allowed marker: mosquitto delivers in order, so once the
    // marker arrives a denied message would have arrived before it.
    publish_as(
        &b,
        "wis2-create",
        password("wis2-create"),
        TOPIC,
        "create-on-wis2",
    )
    .await;
    publish_as(
        &b,
        "wis2-watch",
        password("wis2-watch"),
        TOPIC,
        "watch-on-wis2",
    )
    .await;
    publish_as(
        &b,
        "wis2-validate",
        password("wis2-validate"),
        "chain/published",
        "validate-confirms",
    )
    .await;
    publish_as(&b, "everyone", everyone_pw, TOPIC, "everyone-on-wis2").await;
    publish_as(
        &b,
        "operator",
        password("operator"),
        "chain/events",
        "operator-event",
    )
    .await;
    publish_as(
        &b,
        "wis2-publish",
        password("wis2-publish"),
        "origin/a/wis2/other-centre/data/core/weather",
        "other-centre",
    )
    .await;
    publish_as(
        &b,
        "wis2-publish",
        password("wis2-publish"),
        TOPIC,
        "marker",
    )
    .await;
    let seen = op.collect(1, Duration::from_secs(10), |_| true).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].payload, b"marker",
        "a denied publish got through: {seen:?}"
    );
    let seen = everyone.collect(1, Duration::from_secs(10), |_| true).await;
    assert_eq!(seen.len(), 1, "everyone reads the centre's WIS2 topics");
    assert_eq!(seen[0].payload, b"marker");
    // Allowed internal publishes do arrive.
    publish_as(
        &b,
        "wis2-create",
        password("wis2-create"),
        "chain/created",
        "created",
    )
    .await;
    let seen = op.collect(1, Duration::from_secs(10), |_| true).await;
    assert_eq!(seen[0].payload, b"created");
}
