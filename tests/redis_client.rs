#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The pipelined Redis client against the real Redis: concurrent commands share one connection and each
//! gets its own reply, and a connection that died is replaced.

use gatehouse::server::proxy::redis_client::{RedisClient, Reply};
use std::sync::Arc;

const REDIS: &str = "redis://127.0.0.1:6379";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_each_get_their_own_reply() {
    let client = Arc::new(RedisClient::new(REDIS).unwrap());
    let before = client.command(&[b"CLIENT", b"ID"]).await.unwrap();
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let client = Arc::clone(&client);
            tokio::spawn(async move {
                let word = format!("word-{i}");
                (word.clone(), client.command(&[b"ECHO", word.as_bytes()]).await)
            })
        })
        .collect();
    for task in tasks {
        let (word, reply) = task.await.unwrap();
        assert_eq!(reply.unwrap(), Reply::Bulk(Some(word.into_bytes())));
    }
    // They went over the one connection (pipelined), not a connection each.
    assert!(matches!(before, Reply::Integer(_)));
    assert_eq!(client.command(&[b"CLIENT", b"ID"]).await.unwrap(), before);
}

#[tokio::test]
async fn a_killed_connection_fails_what_was_on_it_and_the_next_command_reconnects() {
    let client = RedisClient::new(REDIS).unwrap();
    let Reply::Integer(id) = client.command(&[b"CLIENT", b"ID"]).await.unwrap() else { panic!("no id") };
    let killer = RedisClient::new(REDIS).unwrap();
    let id = id.to_string();
    assert_eq!(killer.command(&[b"CLIENT", b"KILL", b"ID", id.as_bytes()]).await.unwrap(), Reply::Integer(1));
    // The first command may find the dead connection (an error, never another command's reply) ...
    let first = client.command(&[b"ECHO", b"after"]).await;
    assert!(matches!(&first, Ok(Reply::Bulk(Some(b))) if b == b"after") || first.is_err(), "{first:?}");
    // ... and the next one goes over a new connection.
    assert_eq!(client.command(&[b"ECHO", b"again"]).await.unwrap(), Reply::Bulk(Some(b"again".to_vec())));
    let Reply::Integer(new_id) = client.command(&[b"CLIENT", b"ID"]).await.unwrap() else { panic!("no id") };
    assert_ne!(new_id.to_string(), id);
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = RedisClient::new(&format!("redis://127.0.0.1:{port}")).unwrap();
    let started = std::time::Instant::now();
    let e = client.command(&[b"PING"]).await.unwrap_err();
    assert!(e.contains("cannot reach Redis"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // Errors from Redis itself are replies, kept apart from transport errors.
    let live = RedisClient::new(REDIS).unwrap();
    assert!(matches!(live.command(&[b"NO-SUCH-COMMAND"]).await.unwrap(), Reply::Error(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_never_answers_fails_every_caller_within_the_timeout_however_many() {
    // Accepts connections and never reads or answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = Arc::new(RedisClient::new(&format!("redis://127.0.0.1:{port}")).unwrap());
    let started = std::time::Instant::now();
    // More callers than the queue holds: the ones waiting for room give up in time as well.
    let tasks: Vec<_> = (0..6000)
        .map(|_| {
            let client = Arc::clone(&client);
            tokio::spawn(async move { client.command(&[b"PING"]).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_err());
    }
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_millis(2500), "{took:?}");
}
