//! The bounds every parser of the protocol enforces, so that a peer (hub or bank) can never
//! make the other allocate, hash or store more than it agreed to. This module owns the numbers
//! and their defaults; the parsers in `message` apply them.

/// Size and count limits, with the protocol v1 defaults from [`Limits::default`].
///
/// A receiver may lower any limit; a sender must stay within the defaults so that every
/// conforming receiver accepts its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request or response body, in bytes. Default 4 MiB (4 194 304).
    pub max_body_bytes: usize,
    /// Most inquiries in one `InquiryBatch`. Default 64.
    pub max_inquiries_per_batch: usize,
    /// Most answers in one `AnswerBatch`. Default 64 (an answer batch answers one inquiry batch).
    pub max_answers_per_batch: usize,
    /// Most listed cards in one sealed `CardList`. Default 256.
    pub max_cards_per_answer: usize,
    /// Largest count of one unlisted reason in a `CardList`. Default 10 000.
    pub max_unlisted_count: u32,
    /// Longest subject name, in Unicode scalar values. Default 64.
    pub max_name_chars: usize,
    /// Longest card product name, in Unicode scalar values. Default 64.
    pub max_product_chars: usize,
    /// Longest callback URL, in bytes. Default 512.
    pub max_callback_url_bytes: usize,
    /// Largest sealed ciphertext (before base64), in bytes. Default 128 KiB (131 072), room for
    /// 256 cards with long product names.
    pub max_ciphertext_bytes: usize,
}

impl Limits {
    /// The protocol v1 defaults.
    pub const DEFAULT: Limits = Limits {
        max_body_bytes: 4 * 1024 * 1024,
        max_inquiries_per_batch: 64,
        max_answers_per_batch: 64,
        max_cards_per_answer: 256,
        max_unlisted_count: 10_000,
        max_name_chars: 64,
        max_product_chars: 64,
        max_callback_url_bytes: 512,
        max_ciphertext_bytes: 128 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
