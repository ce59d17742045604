//! Lockdep's per-class irq usage states.
//!
//! Bit layout (as lockdep): bit 0 = read, bit 1 = direction (0 used in the interrupt,
//! 1 used with the interrupt enabled), bit 2 = state (0 hardirq, 1 softirq).

/// Number of usage bits.
pub const BITS: usize = 8;
/// Hard interrupts.
pub const HARD: usize = 0;
/// Soft interrupts.
pub const SOFT: usize = 1;
/// Used inside the interrupt ("irq-safe").
pub const USED_IN: usize = 0;
/// Used with the interrupt enabled ("irq-unsafe").
pub const ENABLED: usize = 1;

/// Lockdep's printed names, by bit.
pub const NAMES: [&str; BITS] = [
    "IN-HARDIRQ-W",
    "IN-HARDIRQ-R",
    "HARDIRQ-ON-W",
    "HARDIRQ-ON-R",
    "IN-SOFTIRQ-W",
    "IN-SOFTIRQ-R",
    "SOFTIRQ-ON-W",
    "SOFTIRQ-ON-R",
];

/// Printed state names.
pub const STATE_NAMES: [&str; 2] = ["HARDIRQ", "SOFTIRQ"];

/// The bit for (state, direction, read).
pub fn bit(state: usize, dir: usize, read: bool) -> usize {
    state * 4 + dir * 2 + usize::from(read)
}

/// State of a bit.
pub fn state_of(b: usize) -> usize {
    b / 4
}

/// Direction of a bit.
pub fn dir_of(b: usize) -> usize {
    (b / 2) % 2
}

/// A class's usage bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage(u8);

impl Usage {
    /// Sets a bit.
    pub fn set(&mut self, b: usize) {
        self.0 |= 1 << b;
    }
    /// Tests a bit.
    pub fn has(self, b: usize) -> bool {
        self.0 & (1 << b) != 0
    }
    /// All bits of `other` are set.
    pub fn contains(self, other: Usage) -> bool {
        self.0 & other.0 == other.0
    }
    /// Used in this interrupt state, for read or write.
    pub fn any_used_in(self, state: usize) -> bool {
        self.has(bit(state, USED_IN, false)) || self.has(bit(state, USED_IN, true))
    }
    /// Used with this interrupt enabled, for read or write.
    pub fn any_enabled(self, state: usize) -> bool {
        self.has(bit(state, ENABLED, false)) || self.has(bit(state, ENABLED, true))
    }
    /// Lockdep's four usage characters `{hw hr sw sr}`: `.` none, `-` used in irq,
    /// `+` irq enabled, `?` both.
    pub fn letters(self) -> String {
        let mut s = String::with_capacity(4);
        for state in [HARD, SOFT] {
            for read in [false, true] {
                let used = self.has(bit(state, USED_IN, read));
                let en = self.has(bit(state, ENABLED, read));
                s.push(match (used, en) {
                    (false, false) => '.',
                    (true, false) => '-',
                    (false, true) => '+',
                    (true, true) => '?',
                });
            }
        }
        s
    }
    /// The set bits by name, with the letters.
    pub fn describe(self) -> String {
        let names: Vec<&str> = (0..BITS)
            .filter(|&b| self.has(b))
            .map(|b| NAMES[b])
            .collect();
        format!("{{{}}} [{}]", self.letters(), names.join(" "))
    }
}

/// The first bit already in `old` that conflicts with setting `b` (lockdep's
/// "inconsistent lock state"): a write use in an interrupt conflicts with any use with it
/// enabled, a read use only with a write use (and the mirror image).
pub fn conflicts(old: Usage, b: usize) -> Option<usize> {
    let state = state_of(b);
    let read = b % 2 == 1;
    let other = 1 - dir_of(b);
    // A write conflicts with both the read and the write bit of the other direction.
    [
        Some(bit(state, other, false)),
        (!read).then(|| bit(state, other, true)),
    ]
    .into_iter()
    .flatten()
    .find(|&c| old.has(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_read_is_not_a_conflict() {
        let mut u = Usage::default();
        u.set(bit(HARD, USED_IN, true));
        assert_eq!(conflicts(u, bit(HARD, ENABLED, true)), None);
        assert_eq!(
            conflicts(u, bit(HARD, ENABLED, false)),
            Some(bit(HARD, USED_IN, true))
        );
    }

    #[test]
    fn letters_follow_lockdep() {
        let mut u = Usage::default();
        u.set(bit(HARD, ENABLED, false));
        u.set(bit(SOFT, USED_IN, false));
        assert_eq!(u.letters(), "+.-.");
    }
}
