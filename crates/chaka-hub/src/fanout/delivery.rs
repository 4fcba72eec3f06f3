//! What a bank's response means for each leg of the batch: a pure function from the delivery
//! to fenced [`Settlement`]s (store the answer, wait for the callback, or retry later with
//! backoff and full jitter). No I/O, so every rule is unit-tested here.

use crate::connector::{ConnectorError, Delivery};
use crate::store::ledger::{ClaimedLeg, LegAction, Settlement, answer_fits};
use chaka_core::InquiryId;
use chaka_protocol::message::{Answer, Outcome, RefusalReason};
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// Exponential backoff with full jitter: attempt `n` waits a uniform share of
/// `min(cap, base × 2^(n−1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first ceiling (1 s).
    pub base: Duration,
    /// The largest ceiling (5 min).
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::seconds(1),
            cap: Duration::minutes(5),
        }
    }
}

impl Backoff {
    /// The ceiling for attempt `attempt` (from 1).
    pub fn ceiling(&self, attempt: i64) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let factor = 1i64 << doublings;
        let ceiling = self
            .base
            .checked_mul(i32::try_from(factor).unwrap_or(i32::MAX))
            .unwrap_or(self.cap);
        ceiling.min(self.cap)
    }

    /// The delay for attempt `attempt` with jitter `share` in `0.0..=1.0`.
    pub fn delay(&self, attempt: i64, share: f64) -> Duration {
        self.ceiling(attempt) * share.clamp(0.0, 1.0)
    }
}

/// The rules a delivery is judged by.
#[derive(Debug, Clone, Copy)]
pub struct Judge {
    /// Retry delays.
    pub backoff: Backoff,
    /// After a `202`, when to ask again if no callback came.
    pub reask_after: Duration,
    /// The jitter share drawn for this batch (one per batch keeps its legs together).
    pub jitter: f64,
}

impl Judge {
    fn retry(
        &self,
        leg: &ClaimedLeg,
        now: OffsetDateTime,
        at_least: Duration,
        error: String,
    ) -> Settlement {
        let wait = self.backoff.delay(leg.attempt, self.jitter).max(at_least);
        Settlement {
            key: leg.key.clone(),
            attempt: leg.attempt,
            action: LegAction::Retry {
                at: now + wait,
                error,
            },
        }
    }

    /// One settlement per inquiry of `sent` (the ids of the batch as sent), in that order.
    pub fn settle(
        &self,
        legs: &HashMap<InquiryId, ClaimedLeg>,
        sent: &[InquiryId],
        result: Result<Delivery, ConnectorError>,
        now: OffsetDateTime,
    ) -> Vec<Settlement> {
        let ours = sent.iter().filter_map(|id| legs.get(id));
        match result {
            Ok(Delivery::Answered(batch)) => {
                let mut answers: HashMap<InquiryId, Answer> = HashMap::new();
                for answer in batch.answers {
                    if sent.contains(&answer.inquiry_id) {
                        answers.insert(answer.inquiry_id, answer);
                    } else {
                        tracing::warn!(bank = %batch.bank, "an answer names an inquiry not in the batch; ignored");
                    }
                }
                ours.map(|leg| match answers.remove(&leg.key.inquiry_id) {
                    None => self.retry(leg, now, Duration::ZERO, "missing from the answers".into()),
                    Some(a) if a.bank != leg.key.bank || !answer_fits(&a, leg.suite) => self.retry(
                        leg,
                        now,
                        Duration::ZERO,
                        "answer refused: not a valid sealed list for this inquiry".into(),
                    ),
                    Some(Answer {
                        outcome:
                            Outcome::Refused {
                                reason: RefusalReason::TemporarilyUnavailable,
                            },
                        ..
                    }) => self.retry(leg, now, Duration::ZERO, "temporarily_unavailable".into()),
                    Some(a) => Settlement {
                        key: leg.key.clone(),
                        attempt: leg.attempt,
                        action: LegAction::Answer(Box::new(a)),
                    },
                })
                .collect()
            }
            Ok(Delivery::Accepted(accepted)) => ours
                .map(|leg| {
                    if accepted.accepted.contains(&leg.key.inquiry_id) {
                        Settlement {
                            key: leg.key.clone(),
                            attempt: leg.attempt,
                            action: LegAction::AwaitCallback {
                                reask_at: now + self.reask_after,
                            },
                        }
                    } else {
                        self.retry(
                            leg,
                            now,
                            Duration::ZERO,
                            "missing from the acceptance".into(),
                        )
                    }
                })
                .collect(),
            Ok(Delivery::RetryLater {
                status,
                retry_after,
            }) => {
                let at_least = retry_after
                    .and_then(|d| Duration::try_from(d).ok())
                    .unwrap_or(Duration::ZERO);
                ours.map(|leg| self.retry(leg, now, at_least, format!("{status}: retry later")))
                    .collect()
            }
            Ok(Delivery::Refused { status, code }) => {
                let error = format!("refused {status} {}", code.as_deref().unwrap_or("-"));
                // Protocol §8: a `400` is not retried. A batch refused as a whole is split by
                // the caller until the refused inquiry is alone; only then is it given up.
                let invalid = matches!(status, 400 | 413) && sent.len() == 1;
                ours.map(|leg| {
                    if invalid {
                        Settlement {
                            key: leg.key.clone(),
                            attempt: leg.attempt,
                            action: LegAction::GiveUp {
                                error: error.clone(),
                            },
                        }
                    } else {
                        self.retry(leg, now, Duration::ZERO, error.clone())
                    }
                })
                .collect()
            }
            Err(e) => {
                let error = e.to_string();
                ours.map(|leg| self.retry(leg, now, Duration::ZERO, error.clone()))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ledger::LegKey;
    use chaka_core::BankCode;
    use chaka_protocol::keys::RecipientPublicKey;
    use chaka_protocol::message::{Accepted, AnswerBatch, ProtocolVersion};
    use chaka_protocol::seal::SealedCardList;
    use chaka_protocol::suite::Suite;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);
    const SUITE: Suite = Suite::HpkeX25519Sha256ChaCha20Poly1305;

    fn leg(n: i64, attempt: i64) -> ClaimedLeg {
        ClaimedLeg {
            key: LegKey {
                inquiry_id: InquiryId::generate(NOW + Duration::milliseconds(n)),
                bank: BankCode::parse("ICBC").unwrap(),
            },
            attempt,
            suite: SUITE,
            deadline: NOW + Duration::hours(24),
            lease_expires_at: NOW + Duration::seconds(30),
            subject_sealed: None,
            recipient_key: RecipientPublicKey::from_bytes([9; 32]),
        }
    }

    fn answer(leg: &ClaimedLeg, outcome: Outcome, sealed: Option<SealedCardList>) -> Answer {
        Answer {
            inquiry_id: leg.key.inquiry_id,
            bank: leg.key.bank.clone(),
            outcome,
            sealed,
            answered_at: NOW,
        }
    }

    fn sealed(suite: Suite) -> SealedCardList {
        SealedCardList {
            suite,
            enc: vec![1; 32],
            ciphertext: vec![2; 40],
        }
    }

    fn judge() -> Judge {
        Judge {
            backoff: Backoff::default(),
            reask_after: Duration::minutes(10),
            jitter: 1.0,
        }
    }

    fn setup(legs: &[ClaimedLeg]) -> (HashMap<InquiryId, ClaimedLeg>, Vec<InquiryId>) {
        let ids = legs.iter().map(|l| l.key.inquiry_id).collect();
        let map = legs.iter().map(|l| (l.key.inquiry_id, l.clone())).collect();
        (map, ids)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(1), Duration::seconds(1));
        assert_eq!(b.ceiling(4), Duration::seconds(8));
        assert_eq!(b.ceiling(9), Duration::minutes(4) + Duration::seconds(16));
        assert_eq!(b.ceiling(10), Duration::minutes(5));
        assert_eq!(b.ceiling(10_000), Duration::minutes(5));
        assert_eq!(b.delay(3, 0.5), Duration::seconds(2));
        assert_eq!(b.delay(3, 0.0), Duration::ZERO);
    }

    #[test]
    fn answers_are_checked_against_the_batch() {
        let legs: Vec<_> = (0..5).map(|n| leg(n, 2)).collect();
        let (map, ids) = setup(&legs);
        let stranger = leg(99, 1);
        let answers = vec![
            answer(&legs[0], Outcome::Matched, Some(sealed(SUITE))),
            answer(&legs[1], Outcome::NoMatch, None),
            answer(
                &legs[2],
                Outcome::Refused {
                    reason: RefusalReason::TemporarilyUnavailable,
                },
                None,
            ),
            answer(
                &legs[3],
                Outcome::Matched,
                Some(SealedCardList {
                    enc: vec![1; 5],
                    ..sealed(SUITE)
                }),
            ),
            answer(&stranger, Outcome::NoMatch, None),
        ];
        let batch = AnswerBatch {
            protocol: ProtocolVersion::V1,
            bank: BankCode::parse("ICBC").unwrap(),
            answers,
        };
        let out = judge().settle(&map, &ids, Ok(Delivery::Answered(batch)), NOW);
        assert_eq!(out.len(), 5);
        assert!(matches!(out[0].action, LegAction::Answer(_)));
        assert!(matches!(out[1].action, LegAction::Answer(_)));
        let retry_at = NOW + Duration::seconds(2);
        for (i, why) in [
            (2, "temporarily"),
            (3, "not a valid sealed"),
            (4, "missing"),
        ] {
            match &out[i].action {
                LegAction::Retry { at, error } => {
                    assert_eq!(*at, retry_at);
                    assert!(error.contains(why), "{error}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn acceptance_waits_and_retry_after_is_honoured() {
        let legs: Vec<_> = (0..2).map(|n| leg(n, 1)).collect();
        let (map, ids) = setup(&legs);
        let accepted = Accepted {
            protocol: ProtocolVersion::V1,
            bank: BankCode::parse("ICBC").unwrap(),
            accepted: vec![ids[0]],
        };
        let out = judge().settle(&map, &ids, Ok(Delivery::Accepted(accepted)), NOW);
        assert!(
            matches!(out[0].action, LegAction::AwaitCallback { reask_at } if reask_at == NOW + Duration::minutes(10))
        );
        assert!(matches!(out[1].action, LegAction::Retry { .. }));
        let later = Delivery::RetryLater {
            status: 429,
            retry_after: Some(std::time::Duration::from_secs(60)),
        };
        let out = judge().settle(&map, &ids, Ok(later), NOW);
        assert!(out.iter().all(
            |s| matches!(s.action, LegAction::Retry { at, .. } if at == NOW + Duration::seconds(60))
        ));
        let down = Err(ConnectorError::Transport("connection refused".into()));
        let out = judge().settle(&map, &ids, down, NOW);
        assert!(
            out.iter()
                .all(|s| matches!(&s.action, LegAction::Retry { at, error } if *at == NOW + Duration::seconds(1) && error.contains("refused")))
        );
    }
    #[test]
    fn a_400_for_one_inquiry_alone_is_final_but_for_a_batch_or_a_401_is_retried() {
        let legs: Vec<_> = (0..2).map(|n| leg(n, 1)).collect();
        let (map, ids) = setup(&legs);
        let refused = |status| {
            Ok(Delivery::Refused {
                status,
                code: Some("invalid_name".into()),
            })
        };
        let alone = judge().settle(&map, &ids[..1], refused(400), NOW);
        assert!(
            matches!(&alone[0].action, LegAction::GiveUp { error } if error.contains("400 invalid_name"))
        );
        let batch = judge().settle(&map, &ids, refused(400), NOW);
        assert!(
            batch
                .iter()
                .all(|s| matches!(s.action, LegAction::Retry { .. }))
        );
        let unauthorised = judge().settle(&map, &ids[..1], refused(401), NOW);
        assert!(matches!(unauthorised[0].action, LegAction::Retry { .. }));
    }
}
