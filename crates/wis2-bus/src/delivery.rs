//! One message received on a subscription.

use rumqttc::{Publish, QoS};

/// One message received on a subscription. Acknowledge it with
/// [`Bus::ack`](crate::Bus::ack) once its result is safely published; until then the
/// broker keeps it for redelivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Set when the broker redelivers a message it had sent before.
    pub redelivered: bool,
    /// Arrival order on this connection (from 1; 0 for a detached delivery): the
    /// stage acknowledges outputs in this order.
    pub seq: u64,
    /// What the acknowledgement needs of the PUBLISH (its packet id and QoS; its topic
    /// and payload are moved out above).
    ack: Publish,
}

impl Delivery {
    /// A delivery of the PUBLISH `p`, the `seq`-th on its connection.
    pub(crate) fn received(mut p: Publish, seq: u64) -> Self {
        Delivery {
            topic: std::mem::take(&mut p.topic),
            payload: std::mem::take(&mut p.payload).to_vec(),
            redelivered: p.dup,
            seq,
            ack: p,
        }
    }

    /// A delivery built outside the broker (tests and one-shot commands run stages
    /// on them): acknowledging it does nothing.
    pub fn detached(topic: impl Into<String>, payload: Vec<u8>) -> Self {
        Delivery {
            topic: topic.into(),
            payload,
            redelivered: false,
            seq: 0,
            ack: Publish::new("", QoS::AtMostOnce, Vec::new()),
        }
    }

    /// The PUBLISH to acknowledge, `None` when there is nothing to acknowledge.
    pub(crate) fn ack_packet(&self) -> Option<&Publish> {
        (self.ack.qos != QoS::AtMostOnce).then_some(&self.ack)
    }
}
