//! `Masked<T>`: a wrapper for personal data that never shows its value in `Debug` or `Display`,
//! so a struct holding a name or an ID number can derive `Debug` and still be logged safely.

use std::fmt;

/// A value that prints as `***`. Read it only with [`Masked::expose`], on purpose.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Masked<T>(T);

impl<T> Masked<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The wrapped value. Every call site is a place where personal data is used.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Masked<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Masked<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Masked<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Masked;

    #[test]
    fn never_prints_the_value() {
        let m = Masked::new("张伟 310101199003071234".to_owned());
        assert_eq!(format!("{m:?} {m}"), "*** ***");
        assert_eq!(m.expose(), "张伟 310101199003071234");
    }
}
