//! Consumer groups (SPEC §7.1): Message DB's `hash_64` of the cardinal id, modulo the group size.
//!
//! `category.get`, SSE replay and SSE live delivery all call [`ConsumerGroup::contains`], so the
//! three can never disagree about which member owns a stream.

use md5::{Digest, Md5};

/// The first 8 bytes of `MD5(utf8(s))`, read big-endian and signed (Message DB `hash_64`).
pub fn hash_64(s: &str) -> i64 {
    let digest = Md5::digest(s.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Member `member` of a group of `size` consumers; `member < size` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerGroup {
    member: u64,
    size: u64,
}

/// Why a (member, size) pair is not a consumer group. The messages are the SPEC's texts minus
/// the `options.consumerGroup.` prefix, which depends on where the pair came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerGroupError {
    #[error("member must be non-negative")]
    NegativeMember,
    #[error("size must be positive")]
    NonPositiveSize,
    #[error("member must be < size")]
    MemberNotBelowSize,
}

impl ConsumerGroup {
    /// Validates in the SPEC §6.7 order: member ≥ 0, then size > 0, then member < size.
    pub fn new(member: i64, size: i64) -> Result<ConsumerGroup, ConsumerGroupError> {
        if member < 0 {
            return Err(ConsumerGroupError::NegativeMember);
        }
        if size <= 0 {
            return Err(ConsumerGroupError::NonPositiveSize);
        }
        if member >= size {
            return Err(ConsumerGroupError::MemberNotBelowSize);
        }
        Ok(ConsumerGroup {
            member: member as u64,
            size: size as u64,
        })
    }

    pub fn member(&self) -> u64 {
        self.member
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether this member receives messages of `stream_name`. Streams with an empty cardinal id
    /// (`account`, `account-`) belong to no member.
    pub fn contains(&self, stream_name: &str) -> bool {
        let cid = crate::stream::cardinal_id(stream_name);
        !cid.is_empty() && member_of(cid, self.size) == self.member
    }
}

/// `unsigned_abs(hash_64(cid)) mod size`; `unsigned_abs` keeps `i64::MIN` from overflowing.
pub fn member_of(cardinal_id: &str, size: u64) -> u64 {
    hash_64(cardinal_id).unsigned_abs() % size
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of SPEC §7.1, verbatim.
    #[test]
    fn hash_64_test_vectors() {
        let vectors: [(&str, i64, [u64; 4]); 8] = [
            ("123", 2318431741638412123, [1, 1, 3, 3]),
            ("456", 2669782135874207551, [1, 1, 3, 1]),
            ("abc", -8070080442485551184, [0, 2, 0, 4]),
            ("1", -4266524885998034046, [0, 0, 2, 1]),
            ("2", -4026655064267673757, [1, 1, 1, 2]),
            ("alice", 7171105761220348917, [1, 0, 1, 2]),
            ("ü", -4597031018240990771, [1, 2, 3, 1]),
            ("", -3162216497309240828, [0, 2, 0, 3]),
        ];
        for (cid, h, mods) in vectors {
            assert_eq!(hash_64(cid), h, "hash_64({cid:?})");
            for (i, n) in [2u64, 3, 4, 5].into_iter().enumerate() {
                assert_eq!(member_of(cid, n), mods[i], "{cid:?} mod {n}");
            }
        }
    }

    #[test]
    fn md5_prefixes_match_the_table() {
        let digest = Md5::digest("123".as_bytes());
        assert_eq!(hex::encode(&digest[..8]), "202cb962ac59075b");
        let digest = Md5::digest("ü".as_bytes());
        assert_eq!(hex::encode(&digest[..8]), "c03410a5204b21cd");
    }

    #[test]
    fn empty_cardinal_ids_belong_to_no_member() {
        for size in 1..5 {
            for member in 0..size {
                let g = ConsumerGroup::new(member, size).unwrap();
                assert!(!g.contains("account"));
                assert!(!g.contains("account-"));
                assert!(!g.contains("account-+x"));
            }
        }
    }

    #[test]
    fn compound_ids_share_a_member() {
        for size in 1..8 {
            for member in 0..size {
                let g = ConsumerGroup::new(member, size).unwrap();
                assert_eq!(g.contains("entity-123+alice"), g.contains("entity-123+bob"));
                assert_eq!(g.contains("entity-123+alice"), g.contains("entity-123"));
            }
        }
    }

    #[test]
    fn x_abc_is_member_0_of_2_and_2_of_3() {
        assert!(ConsumerGroup::new(0, 2).unwrap().contains("x-abc"));
        assert!(ConsumerGroup::new(2, 3).unwrap().contains("x-abc"));
        assert!(!ConsumerGroup::new(1, 2).unwrap().contains("x-abc"));
    }

    #[test]
    fn validation_order() {
        assert_eq!(
            ConsumerGroup::new(-1, 0),
            Err(ConsumerGroupError::NegativeMember)
        );
        assert_eq!(
            ConsumerGroup::new(0, 0),
            Err(ConsumerGroupError::NonPositiveSize)
        );
        assert_eq!(
            ConsumerGroup::new(2, 2),
            Err(ConsumerGroupError::MemberNotBelowSize)
        );
        assert!(ConsumerGroup::new(1, 2).is_ok());
    }

    #[test]
    fn i64_min_does_not_overflow() {
        assert_eq!(i64::MIN.unsigned_abs() % 3, 2);
    }
}
