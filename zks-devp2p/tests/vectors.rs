//! Every vector in `tests/vectors/rlpx-*.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::BytesMut;
use common::{arr, hx, node_id, node_key, noise, secret, vectors};
use zks_api::DisconnectReason;
use zks_api::wire::{Frame, VersionSet, ZksVersion};
use zks_devp2p::caps::{self, Capability, LocalCapability};
use zks_devp2p::enode::{EnodeError, Host};
use zks_devp2p::p2p::{self, Hello, P2pEvent, P2pSession, PeerReason};
use zks_devp2p::rlpx::FrameCodec;
use zks_devp2p::rlpx::ecies::{self, PacketFormat};
use zks_devp2p::rlpx::handshake::{Initiator, Recipient, Secrets, derive_secrets};
use zks_devp2p::{Enode, NodeId, P2pError};

fn format_of(v: &serde_json::Value) -> PacketFormat {
    match v["format"].as_str() {
        Some("legacy") => PacketFormat::Legacy,
        _ => PacketFormat::Eip8,
    }
}

fn extras(v: &serde_json::Value) -> Vec<Vec<u8>> {
    v.as_array().unwrap().iter().map(hx).collect()
}

#[test]
fn eip8_auth_packets_decode() {
    let v = vectors("rlpx-eip8.json");
    let keys = &v["official"]["keys"];
    let b = secret(&keys["static_key_b"]);
    for case in v["official"]["auth"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let packet = hx(&case["hex"]);
        assert_eq!(
            packet.len() as u64,
            case["length"].as_u64().unwrap(),
            "{name}"
        );
        let auth = ecies::read_auth(&b, &packet, format_of(case)).unwrap();
        let e = &case["expect"];
        assert_eq!(auth.signature, arr::<65>(&e["signature"]), "{name}");
        assert_eq!(auth.initiator_id, node_id(&e["initiator_pubkey"]), "{name}");
        assert_eq!(auth.nonce, arr::<32>(&e["initiator_nonce"]), "{name}");
        assert_eq!(auth.version, e["auth_vsn"].as_u64().unwrap(), "{name}");
        assert_eq!(auth.extra, extras(&e["extra_list_elements_rlp"]), "{name}");
        let eph = auth.recover_ephemeral(&b).unwrap();
        assert_eq!(
            NodeId::from_public_key(&eph),
            node_id(&e["recovered_ephemeral_pubkey"]),
            "{name}"
        );
        // The streaming reader, fed one byte at a time, finds the same packet and format.
        let mut recipient = Recipient::new(&NodeKey::from(b.clone()));
        let mut buf = BytesMut::new();
        let mut accepted = None;
        for byte in &packet {
            buf.extend_from_slice(&[*byte]);
            if let Some(a) = recipient.read_auth(&mut buf).unwrap() {
                accepted = Some(a);
            }
        }
        let accepted = accepted.unwrap_or_else(|| panic!("{name} never completed"));
        assert!(buf.is_empty());
        assert_eq!(accepted.auth, auth, "{name}");
        assert_eq!(accepted.secrets.remote_format, format_of(case), "{name}");
    }
}

use zks_devp2p::NodeKey;

#[test]
fn eip8_ack_packets_decode() {
    let v = vectors("rlpx-eip8.json");
    let keys = &v["official"]["keys"];
    let a = secret(&keys["static_key_a"]);
    for case in v["official"]["ack"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let packet = hx(&case["hex"]);
        let ack = ecies::read_ack(&a, &packet, format_of(case)).unwrap();
        let e = &case["expect"];
        assert_eq!(
            ack.ephemeral_id,
            node_id(&e["recipient_ephemeral_pubkey"]),
            "{name}"
        );
        assert_eq!(ack.nonce, arr::<32>(&e["recipient_nonce"]), "{name}");
        assert_eq!(ack.version, e["ack_vsn"].as_u64().unwrap(), "{name}");
        assert_eq!(ack.extra, extras(&e["extra_list_elements_rlp"]), "{name}");
        // The initiator state machine reads it in 1-byte chunks and derives A's secrets.
        let mut init = Initiator::with_randomness(
            &NodeKey::from(a.clone()),
            node_id(&v["derived"]["public_keys"]["static_pub_b"]),
            secret(&keys["ephemeral_key_a"]),
            arr(&keys["nonce_a"]),
            100,
            &secret(&keys["ephemeral_key_b"]),
            [0; 16],
        )
        .unwrap();
        let mut buf = BytesMut::new();
        let mut secrets = None;
        for byte in &packet {
            buf.extend_from_slice(&[*byte]);
            if let Some(s) = init.read_ack(&mut buf).unwrap() {
                secrets = Some(s);
            }
        }
        let secrets = secrets.unwrap();
        let session = v["derived"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["pair"][1] == case["name"])
            .unwrap();
        assert_eq!(secrets.aes_secret, arr::<32>(&session["aes_secret"]));
        assert_eq!(secrets.mac_secret, arr::<32>(&session["mac_secret"]));
        assert_eq!(secrets.shared_secret, arr::<32>(&session["shared_secret"]));
        assert_eq!(
            secrets.ingress_mac_digest(),
            arr::<32>(&session["initiator_ingress_mac_initial_digest"]),
            "{name}"
        );
    }
}

fn recipient_secrets(v: &serde_json::Value, auth: &[u8], ack: &[u8]) -> Secrets {
    let keys = &v["official"]["keys"];
    derive_secrets(
        &secret(&keys["ephemeral_key_b"]),
        &node_id(&v["derived"]["public_keys"]["ephemeral_pub_a"])
            .public_key()
            .unwrap(),
        &arr(&keys["nonce_a"]),
        &arr(&keys["nonce_b"]),
        auth,
        ack,
        false,
        node_id(&v["derived"]["public_keys"]["static_pub_a"]),
    )
}

fn initiator_secrets(v: &serde_json::Value, auth: &[u8], ack: &[u8]) -> Secrets {
    let keys = &v["official"]["keys"];
    derive_secrets(
        &secret(&keys["ephemeral_key_a"]),
        &node_id(&v["derived"]["public_keys"]["ephemeral_pub_b"])
            .public_key()
            .unwrap(),
        &arr(&keys["nonce_a"]),
        &arr(&keys["nonce_b"]),
        auth,
        ack,
        true,
        node_id(&v["derived"]["public_keys"]["static_pub_b"]),
    )
}

fn packet(v: &serde_json::Value, kind: &str, name: &str) -> Vec<u8> {
    let case = v["official"][kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap();
    hx(&case["hex"])
}

#[test]
fn eip8_secrets_and_mac_states() {
    let v = vectors("rlpx-eip8.json");
    // The official value: B's ingress MAC after absorbing "foo".
    let auth2 = packet(&v, "auth", "Auth2");
    let ack2 = packet(&v, "ack", "Ack2");
    let mut b = recipient_secrets(&v, &auth2, &ack2);
    let official = &v["official"]["secrets_auth2_ack2_at_b"];
    assert_eq!(b.aes_secret, arr::<32>(&official["aes_secret"]));
    assert_eq!(b.mac_secret, arr::<32>(&official["mac_secret"]));
    keccak_asm::Digest::update(&mut b.ingress_mac, b"foo");
    assert_eq!(
        b.ingress_mac_digest(),
        arr::<32>(&official["ingress_mac_foo"]["digest"])
    );

    for session in v["derived"]["sessions"].as_array().unwrap() {
        let auth = packet(&v, "auth", session["pair"][0].as_str().unwrap());
        let ack = packet(&v, "ack", session["pair"][1].as_str().unwrap());
        let a = initiator_secrets(&v, &auth, &ack);
        let mut b = recipient_secrets(&v, &auth, &ack);
        assert_eq!(a.shared_secret, arr::<32>(&session["shared_secret"]));
        assert_eq!(b.aes_secret, arr::<32>(&session["aes_secret"]));
        assert_eq!(b.mac_secret, arr::<32>(&session["mac_secret"]));
        assert_eq!(
            a.egress_mac_digest(),
            arr::<32>(&session["initiator_egress_mac_initial_digest"])
        );
        assert_eq!(
            a.ingress_mac_digest(),
            arr::<32>(&session["initiator_ingress_mac_initial_digest"])
        );
        assert_eq!(
            b.egress_mac_digest(),
            arr::<32>(&session["recipient_egress_mac_initial_digest"])
        );
        assert_eq!(
            b.ingress_mac_digest(),
            arr::<32>(&session["recipient_ingress_mac_initial_digest"])
        );
        keccak_asm::Digest::update(&mut b.ingress_mac, b"foo");
        keccak_asm::Digest::update(&mut b.egress_mac, b"foo");
        assert_eq!(
            b.ingress_mac_digest(),
            arr::<32>(&session["recipient_ingress_mac_foo"])
        );
        assert_eq!(
            b.egress_mac_digest(),
            arr::<32>(&session["recipient_egress_mac_foo"])
        );
    }
}

#[test]
fn eip8_derived_primitives() {
    let v = vectors("rlpx-eip8.json");
    let keys = &v["official"]["keys"];
    let d = &v["derived"];
    let a = secret(&keys["static_key_a"]);
    let b = secret(&keys["static_key_b"]);
    assert_eq!(
        NodeId::from_public_key(&a.public_key()),
        node_id(&d["public_keys"]["static_pub_a"])
    );
    assert_eq!(
        ecies::ecdh_x(&a, &b.public_key()),
        arr::<32>(&d["static_shared_secret"])
    );
    assert_eq!(
        ecies::ecdh_x(
            &secret(&keys["ephemeral_key_a"]),
            &secret(&keys["ephemeral_key_b"]).public_key()
        ),
        arr::<32>(&d["ephemeral_shared_secret"])
    );
    for (name, plain) in d["auth_plaintexts"].as_object().unwrap() {
        let auth = packet(&v, "auth", name);
        let format = if name == "Auth1" {
            PacketFormat::Legacy
        } else {
            PacketFormat::Eip8
        };
        assert_eq!(
            ecies::open_packet(&b, &auth, format).unwrap(),
            hx(&plain["plaintext"]),
            "{name}"
        );
    }
    for (name, plain) in d["ack_plaintexts"].as_object().unwrap() {
        let ack = packet(&v, "ack", name);
        let format = if name == "Ack1" {
            PacketFormat::Legacy
        } else {
            PacketFormat::Eip8
        };
        assert_eq!(
            ecies::open_packet(&a, &ack, format).unwrap(),
            hx(&plain["plaintext"]),
            "{name}"
        );
    }
}

#[test]
fn eip8_hello_is_accepted_leniently() {
    let v = vectors("rlpx-eip8.json");
    let h = &v["official"]["hello"];
    let hello = Hello::decode(&hx(&h["hex"])).unwrap();
    let e = &h["expect"];
    assert_eq!(hello.protocol_version, 55);
    assert_eq!(hello.client_id, e["clientId"].as_str().unwrap());
    assert_eq!(
        hello.capabilities,
        vec![Capability::new("eth", 61), Capability::new("mork", 22)]
    );
    assert_eq!(hello.listen_port, 9999);
    assert_eq!(hello.node_id, node_id(&e["nodeId"]));
}

#[test]
fn ecies_with_injected_randomness() {
    let v = vectors("rlpx-misc.json");
    let e = &v["derived"]["ecies"];
    let recipient = secret(&e["recipient_private_key"]);
    let r = secret(&e["ephemeral_private_key_r"]);
    let iv: [u8; 16] = arr(&e["iv"]);
    let z = ecies::ecdh_x(&r, &recipient.public_key());
    assert_eq!(z, arr::<32>(&e["ecdh_x"]));
    assert_eq!(ecies::kdf(&z), arr::<32>(&e["concat_kdf_sha256_32"]));
    let plaintext = hx(&e["plaintext"]);
    let mut none = Vec::new();
    ecies::encrypt_with(&recipient.public_key(), &plaintext, &[], &r, iv, &mut none);
    assert_eq!(none, hx(&e["shared_mac_data_none"]["message"]));
    assert_eq!(ecies::decrypt(&recipient, &none, &[]).unwrap(), plaintext);
    let prefix = hx(&e["shared_mac_data_prefix"]["prefix"]);
    let mut with = Vec::new();
    ecies::encrypt_with(
        &recipient.public_key(),
        &plaintext,
        &prefix,
        &r,
        iv,
        &mut with,
    );
    assert_eq!(with, hx(&e["shared_mac_data_prefix"]["message"]));
    assert_eq!(
        ecies::decrypt(&recipient, &with, &prefix).unwrap(),
        plaintext
    );
    assert_eq!(
        ecies::decrypt(&recipient, &with, &[]),
        Err(zks_devp2p::EciesError::TagMismatch)
    );
    let mut packet = prefix.clone();
    packet.extend_from_slice(&with);
    assert_eq!(packet, hx(&e["shared_mac_data_prefix"]["packet"]));

    let ecdh = &v["official"]["ecdh"];
    let pk = node_id(&ecdh["remote_public_key"]).public_key().unwrap();
    assert_eq!(
        ecies::ecdh_x(&secret(&ecdh["private_key"]), &pk),
        arr::<32>(&ecdh["shared_x"])
    );
}

#[test]
fn deterministic_eip8_handshake_byte_for_byte() {
    let misc = vectors("rlpx-misc.json");
    let eip8 = vectors("rlpx-eip8.json");
    let keys = &eip8["official"]["keys"];
    let d = &misc["derived"]["deterministic_eip8_handshake"];
    let a = node_key(&keys["static_key_a"]);
    let b = node_key(&keys["static_key_b"]);

    let auth = ecies::AuthMessage::new(
        a.secret(),
        &b.secret().public_key(),
        &secret(&keys["ephemeral_key_a"]),
        arr(&keys["nonce_a"]),
    );
    assert_eq!(auth.signature, arr::<65>(&d["signature_rfc6979"]));
    let mut body = Vec::new();
    auth.encode_body(&mut body);
    assert_eq!(body, hx(&d["auth_body_rlp"]));
    assert_eq!(body.len(), 169);

    let mut init = Initiator::with_randomness(
        &a,
        b.id(),
        secret(&keys["ephemeral_key_a"]),
        arr(&keys["nonce_a"]),
        100,
        &secret(&d["auth_ecies_r"]),
        arr(&d["auth_ecies_iv"]),
    )
    .unwrap();
    assert_eq!(init.auth_packet(), &hx(&d["auth_packet"])[..]);
    assert_eq!(init.auth_packet().len(), 384);

    let mut resp = Recipient::with_randomness(
        &b,
        secret(&keys["ephemeral_key_b"]),
        arr(&keys["nonce_b"]),
        100,
        secret(&d["ack_ecies_r"]),
        arr(&d["ack_ecies_iv"]),
    );
    let mut wire = BytesMut::from(init.auth_packet());
    let accepted = resp.read_auth(&mut wire).unwrap().unwrap();
    assert_eq!(accepted.ack_packet, hx(&d["ack_packet"]));
    assert_eq!(accepted.ack_packet.len(), 317);
    let mut wire = BytesMut::from(&accepted.ack_packet[..]);
    let sa = init.read_ack(&mut wire).unwrap().unwrap();
    assert_eq!(sa.aes_secret, arr::<32>(&d["aes_secret"]));
    assert_eq!(sa.mac_secret, arr::<32>(&d["mac_secret"]));
    assert_eq!(
        sa.egress_mac_digest(),
        arr::<32>(&d["initiator_egress_mac_initial_digest"])
    );
    assert_eq!(
        sa.ingress_mac_digest(),
        arr::<32>(&d["initiator_ingress_mac_initial_digest"])
    );
    assert_eq!(
        accepted.secrets.ingress_mac_digest(),
        sa.egress_mac_digest()
    );
}

#[test]
fn legacy_session_with_real_hello_frames() {
    let v = vectors("rlpx-legacy-session.json");
    let o = &v["official"];
    let d = &v["derived"];
    let initiator = secret(&o["initiator_private_key"]);
    let receiver = secret(&o["receiver_private_key"]);
    let auth_ct = hx(&o["auth_ciphertext"]);
    let ack_ct = hx(&o["authresp_ciphertext"]);
    assert_eq!(
        ecies::decrypt(&receiver, &auth_ct, &[]).unwrap(),
        hx(&o["auth_plaintext"])
    );
    assert_eq!(
        ecies::decrypt(&initiator, &ack_ct, &[]).unwrap(),
        hx(&o["authresp_plaintext"])
    );
    let auth = ecies::read_auth(&receiver, &auth_ct, PacketFormat::Legacy).unwrap();
    assert_eq!(auth.nonce, arr::<32>(&o["initiator_nonce"]));
    assert_eq!(auth.initiator_id, node_id(&d["initiator_public_key"]));
    let eph = auth.recover_ephemeral(&receiver).unwrap();
    assert_eq!(
        NodeId::from_public_key(&eph),
        node_id(&d["initiator_ephemeral_public_key"])
    );
    let ack = ecies::read_ack(&initiator, &ack_ct, PacketFormat::Legacy).unwrap();
    assert_eq!(ack.nonce, arr::<32>(&o["receiver_nonce"]));
    assert_eq!(
        ack.ephemeral_id,
        node_id(&d["receiver_ephemeral_public_key"])
    );

    let i_eph = secret(&o["initiator_ephemeral_private_key"]);
    let r_eph = secret(&o["receiver_ephemeral_private_key"]);
    assert_eq!(
        ecies::ecdh_x(&i_eph, &r_eph.public_key()),
        arr::<32>(&o["ecdhe_shared_secret"])
    );
    let args = |we_initiated: bool| {
        let (own, remote, remote_id) = if we_initiated {
            (
                &i_eph,
                r_eph.public_key(),
                node_id(&d["receiver_public_key"]),
            )
        } else {
            (
                &r_eph,
                i_eph.public_key(),
                node_id(&d["initiator_public_key"]),
            )
        };
        derive_secrets(
            own,
            &remote,
            &arr(&o["initiator_nonce"]),
            &arr(&o["receiver_nonce"]),
            &auth_ct,
            &ack_ct,
            we_initiated,
            remote_id,
        )
    };
    let si = args(true);
    let sr = args(false);
    assert_eq!(si.aes_secret, arr::<32>(&o["aes_secret"]));
    assert_eq!(si.mac_secret, arr::<32>(&o["mac_secret"]));
    assert_eq!(si.shared_secret, arr::<32>(&d["shared_secret"]));
    assert_eq!(
        ecies::keccak256(&[&si.shared_secret]),
        arr::<32>(&o["token"])
    );
    assert_eq!(si.egress_mac_digest(), arr::<32>(&o["initial_egress_MAC"]));
    assert_eq!(
        si.ingress_mac_digest(),
        arr::<32>(&o["initial_ingress_MAC"])
    );

    let mut ci = FrameCodec::new(&si, 2048);
    let mut cr = FrameCodec::new(&sr, 2048);
    // Initiator → receiver.
    let expected_i = hx(&o["initiator_hello_packet"]);
    let data_i = hx(&d["initiator_hello_frame"]["frame_data"]);
    let mut out = BytesMut::new();
    ci.encoder.encode(&data_i, &mut out).unwrap();
    assert_eq!(&out[..], &expected_i[..]);
    let mut wire = BytesMut::from(&expected_i[..]);
    assert_eq!(
        &cr.decoder.decode(&mut wire).unwrap().unwrap()[..],
        &data_i[..]
    );
    // Receiver → initiator.
    let expected_r = hx(&o["receiver_hello_packet"]);
    let data_r = hx(&d["receiver_hello_frame"]["frame_data"]);
    let mut out = BytesMut::new();
    cr.encoder.encode(&data_r, &mut out).unwrap();
    assert_eq!(&out[..], &expected_r[..]);
    let mut wire = BytesMut::from(&expected_r[..]);
    assert_eq!(
        &ci.decoder.decode(&mut wire).unwrap().unwrap()[..],
        &data_r[..]
    );

    let (id, payload) = p2p::split_message_id(&data_r, false).unwrap();
    assert_eq!(id, 0);
    let hello = Hello::decode(payload).unwrap();
    assert_eq!(hello.protocol_version, 3);
    assert_eq!(
        hello.capabilities,
        vec![Capability::new("c", 1), Capability::new("d", 3)]
    );
    assert_eq!(hello.node_id, node_id(&d["receiver_public_key"]));
}

/// The two frame codecs of the derived EIP-8 session (A initiates to B with Auth2/Ack2).
fn derived_session() -> (FrameCodec, FrameCodec, serde_json::Value) {
    let v = vectors("rlpx-eip8.json");
    let auth2 = packet(&v, "auth", "Auth2");
    let ack2 = packet(&v, "ack", "Ack2");
    let a = initiator_secrets(&v, &auth2, &ack2);
    let b = recipient_secrets(&v, &auth2, &ack2);
    (
        FrameCodec::new(&a, 1 << 20),
        FrameCodec::new(&b, 1 << 20),
        vectors("rlpx-frames.json"),
    )
}

fn hello_from(v: &serde_json::Value) -> Hello {
    Hello {
        protocol_version: v["protocolVersion"].as_u64().unwrap(),
        client_id: v["clientId"].as_str().unwrap().to_owned(),
        capabilities: v["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Capability::new(c[0].as_str().unwrap(), c[1].as_u64().unwrap() as u32))
            .collect(),
        listen_port: v["listenPort"].as_u64().unwrap(),
        node_id: node_id(&v["nodeId"]),
    }
}

fn zks_caps(hello: &Hello) -> Vec<LocalCapability> {
    hello
        .capabilities
        .iter()
        .map(|c| LocalCapability {
            cap: c.clone(),
            message_count: ZksVersion::from_number(c.version as u8)
                .unwrap()
                .message_count(),
        })
        .collect()
}

fn run_direction(
    d: &serde_json::Value,
    dir: &str,
    enc: &mut FrameCodec,
    dec: &mut FrameCodec,
    (sender, sender_peer_hello): (&mut P2pSession, &Hello),
    receiver: &mut P2pSession,
) {
    let frames = d[dir]["frames"].as_array().unwrap();
    let mut stream = Vec::new();
    for f in frames {
        let what = f["description"].as_str().unwrap();
        let data = hx(&f["frame_data"]);
        // Our session writes the same frame-data (the vectors' Snappy output comes from the
        // same `snap` encoder).
        let mut ours = BytesMut::new();
        match f["msg_id"].as_u64().unwrap() {
            0 => sender.write_hello(&mut ours),
            1 => sender.write_disconnect(DisconnectReason::ClientQuitting, &mut ours),
            2 => sender.write_ping(&mut ours),
            3 => sender.write_pong(&mut ours),
            id => {
                let frame = Frame::zks((id - 0x10) as u8, hx(&f["uncompressed_payload"]));
                sender.check_zks(&frame).unwrap();
                sender.write_zks(&frame, &mut ours);
            }
        }
        assert_eq!(hex::encode(&ours), hex::encode(&data), "{dir} {what}");
        if f["msg_id"] == 0 {
            // The sender compresses once it has the peer's Hello.
            let mut other = BytesMut::new();
            p2p::put_message_id(&mut other, 0);
            let mut payload = Vec::new();
            sender_peer_hello.encode(&mut payload);
            other.extend_from_slice(&payload);
            assert_eq!(sender.handle(&other).unwrap(), P2pEvent::Hello);
        }
        let mut out = BytesMut::new();
        enc.encoder.encode(&data, &mut out).unwrap();
        assert_eq!(
            hex::encode(&out),
            f["wire"].as_str().unwrap(),
            "{dir} {what}"
        );
        assert_eq!(
            enc.encoder.mac_digest(),
            arr::<32>(&f["egress_mac_digest_after"])
        );
        stream.extend_from_slice(&out);
    }
    // The receiver decodes the concatenated stream fed one byte at a time.
    let mut buf = BytesMut::new();
    let mut decoded = Vec::new();
    for byte in &stream {
        buf.extend_from_slice(&[*byte]);
        while let Some(data) = dec.decoder.decode(&mut buf).unwrap() {
            decoded.push(data);
        }
    }
    assert_eq!(decoded.len(), frames.len());
    for (f, data) in frames.iter().zip(&decoded) {
        assert_eq!(hex::encode(data), f["frame_data"].as_str().unwrap());
        let event = receiver.handle(data).unwrap();
        let expected = match f["msg_id"].as_u64().unwrap() {
            0 => P2pEvent::Hello,
            1 => P2pEvent::Disconnect(PeerReason::Known(DisconnectReason::ClientQuitting)),
            2 => P2pEvent::Ping,
            3 => P2pEvent::Pong,
            id => P2pEvent::Zks(Frame::zks(
                (id - 0x10) as u8,
                hx(&f["uncompressed_payload"]),
            )),
        };
        assert_eq!(event, expected, "{}", f["description"]);
    }
    assert_eq!(receiver.zks_version(), Some(ZksVersion::V3));
}

#[test]
fn derived_frames_both_directions() {
    let (mut a, mut b, v) = derived_session();
    let d = &v["derived"];
    let hello_a = hello_from(&d["hello_a"]);
    let hello_b = hello_from(&d["hello_b"]);
    let session =
        |own: &Hello, peer: &Hello| P2pSession::new(own.clone(), zks_caps(own), peer.node_id);
    let mut a_tx = session(&hello_a, &hello_b);
    let mut b_rx = session(&hello_b, &hello_a);
    run_direction(
        d,
        "a_to_b",
        &mut a,
        &mut b,
        (&mut a_tx, &hello_b),
        &mut b_rx,
    );
    let mut b_tx = session(&hello_b, &hello_a);
    let mut a_rx = session(&hello_a, &hello_b);
    run_direction(
        d,
        "b_to_a",
        &mut b,
        &mut a,
        (&mut b_tx, &hello_a),
        &mut a_rx,
    );
}

#[test]
fn derived_frame_intermediates() {
    let (_, _, v) = derived_session();
    let f = &v["derived"]["a_to_b"]["frames"][0];
    assert_eq!(
        f["intermediate"]["egress_mac_digest_before"],
        v["derived"]["handshake"]["initiator_egress_mac_initial_digest"]
    );
    assert_eq!(
        hx(&f["header_plaintext"])[..3],
        [0, 0, f["frame_size"].as_u64().unwrap() as u8]
    );
}

#[test]
fn p2p_message_forms() {
    let v = vectors("rlpx-p2p-messages.json");
    let o = &v["official"];
    assert_eq!(
        hx(&o["reth_ping_pong"]["ping_frame_data"]),
        [0x02, 0x01, 0x00, 0xc0]
    );
    assert_eq!(
        hx(&o["reth_ping_pong"]["pong_frame_data"]),
        [0x03, 0x01, 0x00, 0xc0]
    );
    for data in o["reth_disconnect_decodable_uncompressed"]["frame_data"]
        .as_array()
        .unwrap()
    {
        let data = hx(data);
        let (id, payload) = p2p::split_message_id(&data, false).unwrap();
        assert_eq!(id, 1);
        let code = *data.last().unwrap();
        let code = if code == 0x80 { 0 } else { code };
        assert_eq!(
            p2p::decode_disconnect(payload),
            PeerReason::Known(DisconnectReason::from_code(code).unwrap()),
            "{}",
            hex::encode(&data)
        );
    }
    for m in v["derived"]["p2p_messages"].as_array().unwrap() {
        let data = hx(&m["frame_data"]);
        let name = m["name"].as_str().unwrap();
        let (id, payload) = p2p::split_message_id(&data, false).unwrap();
        if id == 1 {
            let reason = p2p::decode_disconnect(payload);
            let PeerReason::Known(reason) = reason else {
                panic!("{name}: {reason:?}")
            };
            // Our writer produces the same bytes in the same state.
            let mut session = fresh_session();
            if name.contains("after Hello") {
                activate(&mut session);
            }
            let mut out = BytesMut::new();
            session.write_disconnect(reason, &mut out);
            assert_eq!(hex::encode(&out), hex::encode(&data), "{name}");
        }
    }
    // The length bomb is rejected from the announced length.
    let mut session = fresh_session();
    activate(&mut session);
    assert_eq!(
        session.handle(&hx(&o["reth_reject_ping_with_16mib_claim"]["frame_data"])),
        Err(P2pError::DecompressedTooLarge {
            got: 16_777_216,
            max: p2p::MAX_CONTROL_PAYLOAD
        })
    );
    // Hello id: 80 is canonical, 00 is tolerated only for Hello.
    assert_eq!(hx(&o["hello_message_id"]["hello_first_byte"]), [0x80]);
    for e in v["derived"]["message_id_encoding"].as_array().unwrap() {
        let id = e["id"].as_u64().unwrap() as u8;
        let mut out = Vec::new();
        p2p::put_message_id(&mut out, id);
        assert_eq!(out, hx(&e["rlp"]));
        assert_eq!(p2p::split_message_id(&out, false).unwrap().0, u64::from(id));
    }
}

fn peer_key() -> NodeKey {
    NodeKey::from_hex(&"11".repeat(32)).unwrap()
}

fn own_key() -> NodeKey {
    NodeKey::from_hex(&"22".repeat(32)).unwrap()
}

fn fresh_session() -> P2pSession {
    let caps = caps::zks_capabilities(VersionSet::ALL);
    let hello = P2pSession::hello_for(own_key().id(), "t", &caps, 0);
    P2pSession::new(hello, caps, peer_key().id())
}

fn activate(session: &mut P2pSession) {
    let caps = caps::zks_capabilities(VersionSet::ALL);
    let peer = P2pSession::new(
        P2pSession::hello_for(peer_key().id(), "p", &caps, 0),
        caps,
        own_key().id(),
    );
    let mut hello = BytesMut::new();
    peer.write_hello(&mut hello);
    assert_eq!(session.handle(&hello), Ok(P2pEvent::Hello));
}

#[test]
fn capability_negotiation_cases() {
    let v = vectors("rlpx-p2p-messages.json");
    for case in v["derived"]["capability_negotiation"].as_array().unwrap() {
        let local: Vec<LocalCapability> = case["local"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| LocalCapability {
                cap: Capability::new(
                    c["name"].as_str().unwrap(),
                    c["version"].as_u64().unwrap() as u32,
                ),
                message_count: c["message_count"].as_u64().unwrap() as u8,
            })
            .collect();
        let remote: Vec<Capability> = case["remote"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Capability::new(c[0].as_str().unwrap(), c[1].as_u64().unwrap() as u32))
            .collect();
        let shared = zks_devp2p::eth::SharedCapabilities::negotiate(&local, &remote)
            .map(|s| s.as_slice().to_vec())
            .unwrap_or_default();
        let expected: Vec<(String, u32, u16, u8)> = case["expected"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["name"].as_str().unwrap().to_owned(),
                            e["version"].as_u64().unwrap() as u32,
                            e["offset"].as_u64().unwrap() as u16,
                            e["message_count"].as_u64().unwrap() as u8,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let got: Vec<(String, u32, u16, u8)> = shared
            .iter()
            .map(|s| (s.name.clone(), s.version, s.offset, s.message_count))
            .collect();
        assert_eq!(got, expected, "{}", case["description"]);
    }
}

#[test]
fn enode_urls() {
    let v = vectors("rlpx-misc.json");
    for case in v["official"]["enode_urls"]["valid"].as_array().unwrap() {
        let url = case["url"].as_str().unwrap();
        let enode: Enode = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(enode.id, node_id(&case["node_id"]));
        assert_eq!(enode.to_string(), url);
        assert_eq!(enode.id.to_peer_id().as_bytes(), &enode.id.0[..]);
        match (&enode.addr, case.get("tcp")) {
            (None, None) => {}
            (Some(addr), Some(tcp)) => {
                assert_eq!(u64::from(addr.tcp_port), tcp.as_u64().unwrap());
                assert_eq!(u64::from(addr.udp_port), case["udp"].as_u64().unwrap());
                match (&addr.host, case.get("ip"), case.get("hostname")) {
                    (Host::Ip(ip), Some(want), _) => {
                        assert_eq!(ip.to_string(), want.as_str().unwrap())
                    }
                    (Host::Dns(name), _, Some(want)) => assert_eq!(name, want.as_str().unwrap()),
                    other => panic!("{url}: {other:?}"),
                }
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    for case in v["official"]["enode_urls"]["invalid"].as_array().unwrap() {
        let url = case["url"].as_str().unwrap();
        let err = url.parse::<Enode>().unwrap_err();
        let want = case["error"].as_str().unwrap();
        let expected = match want {
            "invalid port" => EnodeError::InvalidPort,
            "invalid discport in query" => EnodeError::InvalidDiscport,
            w if w.starts_with("invalid public key") => EnodeError::WrongIdLength,
            _ => EnodeError::MissingScheme,
        };
        assert_eq!(err, expected, "{url}");
        if expected != EnodeError::MissingScheme {
            assert_eq!(err.to_string(), want);
        }
    }
}

#[test]
fn frame_vectors_reference_noise_helper() {
    // Keeps the helper linked in this binary (it is shared with the round-trip tests).
    assert_eq!(noise(3, 1).len(), 3);
}
