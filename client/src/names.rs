//! Friendly generated display names ("Quiet Otter") for a new identity, before the user picks their own.

/// 64 adjectives: kind, easy to read and to say, no two alike.
const ADJECTIVES: [&str; 64] = [
    "Quiet", "Brave", "Calm", "Clever", "Cosy", "Curious", "Daring", "Eager", "Gentle", "Happy",
    "Jolly", "Kind", "Lively", "Lucky", "Merry", "Mighty", "Nimble", "Noble", "Patient", "Playful",
    "Polite", "Proud", "Quick", "Radiant", "Bright", "Sunny", "Swift", "Tidy", "Witty", "Wise",
    "Zesty", "Bold", "Breezy", "Bubbly", "Cheerful", "Chirpy", "Dapper", "Dreamy", "Fancy",
    "Fearless", "Friendly", "Frosty", "Fuzzy", "Glad", "Golden", "Graceful", "Hearty", "Humble",
    "Jazzy", "Keen", "Loyal", "Mellow", "Misty", "Peppy", "Plucky", "Rosy", "Silver", "Sleepy",
    "Snappy", "Spry", "Steady", "Sturdy", "Velvet", "Cosmic",
];

/// 64 animals, no two alike.
const ANIMALS: [&str; 64] = [
    "Otter", "Badger", "Beaver", "Bison", "Crane", "Dolphin", "Eagle", "Falcon", "Ferret", "Finch",
    "Fox", "Gecko", "Giraffe", "Hare", "Hedgehog", "Heron", "Ibis", "Jaguar", "Koala", "Lemur",
    "Lynx", "Magpie", "Marmot", "Meerkat", "Mole", "Moose", "Newt", "Ocelot", "Owl", "Panda",
    "Parrot", "Pelican", "Penguin", "Puffin", "Quokka", "Rabbit", "Raccoon", "Raven", "Robin",
    "Salmon", "Seal", "Sparrow", "Squirrel", "Stork", "Swan", "Tapir", "Tiger", "Toucan", "Turtle",
    "Walrus", "Weasel", "Whale", "Wolf", "Wombat", "Wren", "Yak", "Zebra", "Alpaca", "Bear",
    "Camel", "Lark", "Orca", "Kestrel", "Starling",
];

/// A display name such as "Quiet Otter", chosen by `random` (the same input always gives the same name).
///
/// The low 6 bits pick the adjective, the next 6 the animal: 4096 distinct names, each valid for
/// [`twain_protocol::validate_name`].
pub fn friendly_name(random: u32) -> String {
    let adjective = ADJECTIVES[(random & 63) as usize];
    let animal = ANIMALS[((random >> 6) & 63) as usize];
    format!("{adjective} {animal}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn deterministic() {
        assert_eq!(friendly_name(0), "Quiet Otter");
        assert_eq!(friendly_name(12345), friendly_name(12345));
        // Bits above the 12 used do not matter.
        assert_eq!(friendly_name(7), friendly_name(7 | (1 << 20)));
    }

    #[test]
    fn word_lists_have_no_duplicates() {
        assert_eq!(ADJECTIVES.iter().collect::<HashSet<_>>().len(), 64);
        assert_eq!(ANIMALS.iter().collect::<HashSet<_>>().len(), 64);
    }

    #[test]
    fn every_name_is_distinct_and_valid() {
        let names: HashSet<String> = (0..4096u32).map(friendly_name).collect();
        assert_eq!(names.len(), 4096);
        for name in &names {
            assert!(twain_protocol::validate_name(name).is_ok(), "{name}");
            assert_eq!(name.trim(), name);
        }
    }
}
