//! One subscribed topic and its tag expression. The broker filters by tag
//! hash from the consume queue (hashes can collide); the client re-checks
//! the tag string of every message it pulls.

use ferromq_protocol::header::{
    parse_tag_expression, Subscription as WireSubscription, PROPERTY_RETRY_TOPIC, RETRY_PREFIX,
};
use ferromq_protocol::{StoredMessage, TopicName};

/// Whether a subscription was asked for by the application or added for
/// the group's retry topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// `subscribe(topic, expression)`.
    Application,
    /// `%RETRY%<group>`, subscribed automatically in clustering mode.
    Retry,
}

/// A subscribed topic with its parsed tag expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Subscription {
    pub(super) topic: TopicName,
    pub(super) expression: String,
    /// `None`: every tag.
    tags: Option<Vec<String>>,
    pub(super) origin: Origin,
}

impl Subscription {
    pub(super) fn new(topic: TopicName, expression: &str, origin: Origin) -> Self {
        let expression = expression.trim();
        let expression = if expression.is_empty() {
            "*"
        } else {
            expression
        };
        Self {
            topic,
            tags: parse_tag_expression(expression),
            expression: expression.to_string(),
            origin,
        }
    }

    /// Whether `m` passes the expression: any message for `*`, else only
    /// messages whose tag is one of the listed ones.
    pub(super) fn matches(&self, m: &StoredMessage) -> bool {
        match (&self.tags, &m.message.tags) {
            (None, _) => true,
            (Some(tags), Some(t)) => tags.iter().any(|x| x == t),
            (Some(_), None) => false,
        }
    }

    /// The expression sent with pulls; `None` takes everything.
    pub(super) fn pull_expression(&self) -> Option<String> {
        self.tags.as_ref().map(|_| self.expression.clone())
    }

    /// As sent in heartbeats.
    pub(super) fn wire(&self) -> WireSubscription {
        WireSubscription {
            topic: self.topic.clone(),
            expression: self.expression.clone(),
        }
    }
}

/// A message redelivered through a retry topic, as the application should
/// see it: with the topic it was first sent to.
pub(super) fn restore_topic(mut m: StoredMessage) -> StoredMessage {
    if m.message.topic.as_str().starts_with(RETRY_PREFIX) {
        if let Some(t) = m
            .message
            .properties
            .get(PROPERTY_RETRY_TOPIC)
            .and_then(|t| TopicName::new(t.as_str()).ok())
        {
            m.message.topic = t;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::window::tests::msg;
    use super::*;

    #[test]
    fn tags_are_rechecked_by_string() {
        let t = TopicName::new("T").unwrap();
        let all = Subscription::new(t.clone(), " * ", Origin::Application);
        assert!(all.matches(&msg("T", 0, None)));
        assert!(all.matches(&msg("T", 0, Some("X"))));
        assert_eq!(all.pull_expression(), None);
        let ab = Subscription::new(t.clone(), "TagA || TagB", Origin::Application);
        assert!(ab.matches(&msg("T", 0, Some("TagB"))));
        assert!(!ab.matches(&msg("T", 0, Some("TagC"))));
        assert!(!ab.matches(&msg("T", 0, None)));
        assert_eq!(ab.pull_expression().as_deref(), Some("TagA || TagB"));
        assert_eq!(Subscription::new(t, "", Origin::Retry).expression, "*");
    }

    #[test]
    fn retried_messages_get_their_topic_back() {
        let mut m = msg("%RETRY%g", 0, None);
        m.message
            .properties
            .insert(PROPERTY_RETRY_TOPIC.into(), "Orders".into());
        assert_eq!(restore_topic(m).message.topic.as_str(), "Orders");
        let plain = msg("Orders", 0, None);
        assert_eq!(restore_topic(plain).message.topic.as_str(), "Orders");
        let bare = msg("%RETRY%g", 0, None);
        assert_eq!(restore_topic(bare).message.topic.as_str(), "%RETRY%g");
    }
}
