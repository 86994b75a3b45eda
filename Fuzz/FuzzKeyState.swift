// Fuzz target "keystate" (scripts/fuzz.sh): the input is a key state, the signed body of a header copy
// (FORMAT.md §4): epochs, authors and key slots.
import MikataFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKeyState(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    guard let state = try? KeyState.parse(bytes) else { return 0 }
    // The parser is exact (fixed encodings, no trailing bytes), so a parsed state serializes to its input.
    Fuzz.invariant(state.serialize() == bytes, "key state round trip")
    // What readers do with a parsed state before any key is used.
    _ = state.signedMessage()
    _ = state.passwordSlot
    _ = state.recoverySlot
    for slot in state.supporterSlots { _ = state.activeAuthor(id: slot.supporterId) }
    for entry in state.epochs {
        _ = state.minimumEpoch(forSeq: entry.startSeq)
        _ = state.epochEntry(entry.epoch)
    }
    for author in state.authors { _ = state.author(id: author.id, seq: author.activeFromSeq) }
    return 0
}
