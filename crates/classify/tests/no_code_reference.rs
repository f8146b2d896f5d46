//! Speech that carries no code, added to the library, stops the code its words were mistaken
//! for, and only that: the announcement it resembles is still heard.

mod common;

use std::sync::Arc;

use common::{read_audio, shipped_library, testdata};
use tonegate_classify::{Classifier, Code, Library, Reference};

fn library_pcm(name: &str) -> Vec<i16> {
    read_audio(&testdata().join("library").join(name))
}

fn clip(pcm: &[i16], from_ms: usize, len_ms: usize) -> &[i16] {
    &pcm[from_ms * 8..(from_ms + len_ms) * 8]
}

fn twice(pcm: &[i16]) -> Vec<i16> {
    pcm.iter().chain(pcm).copied().collect()
}

#[test]
fn a_prompt_mistaken_for_2112_gives_no_code_once_the_library_holds_it_as_no_code() {
    // The shipped library's coded references only: its own known prompts would already
    // stop this one (they say the same connecting words in the same voice).
    let coded: Vec<Reference> = shipped_library()
        .references()
        .iter()
        .filter(|r| r.code().is_some())
        .cloned()
        .collect();
    let lib = Arc::new(Library::new(coded));
    // A connecting prompt in China Mobile's voice, built from its own phrases: a greeting,
    // the middle of 2112/cm ("…正在通话中，请稍候。Please hold on, …", its only words no
    // other code says), then another announcement's English.
    let call_waiting = library_pcm("2112-call-waiting/cm.wav");
    let prompt: Vec<i16> = [
        clip(&library_pcm("2101-busy/cm.wav"), 0, 1500),
        clip(&call_waiting, 3500, 3400),
        clip(&library_pcm("2113-call-forwarded/ct.wav"), 5000, 2500),
    ]
    .concat();
    let before = Classifier::classify(Arc::clone(&lib), &twice(&prompt));
    assert_eq!(
        before.code,
        Code::new(2112),
        "the prompt must be mistaken at first, or this tests nothing"
    );

    let mut refs = lib.references().to_vec();
    refs.push(Reference::no_code("none/prompt.wav", &prompt).expect("reference"));
    let with = Arc::new(Library::new(refs));
    assert_eq!(with.codes().len(), 18, "a no-code reference adds no code");
    let after = Classifier::classify(Arc::clone(&with), &twice(&prompt));
    assert_eq!(after.code, None, "{after:?}");

    let heard = Classifier::classify(with, &twice(&call_waiting));
    assert_eq!(heard.code, Code::new(2112), "{heard:?}");
}
