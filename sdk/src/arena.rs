//! The allocator a plugin runs on in wasm: size classes over a bump pointer.
//!
//! A plugin instance lives for one event: the host creates it, lowers the event and context into
//! it (one allocation per string), calls `handle`, lifts the actions and throws the instance
//! away. A general-purpose allocator (wasi-libc's dlmalloc, Rust's default on `wasm32-wasip2`)
//! spends much of its work on what such a life rarely needs: splitting and coalescing free
//! blocks. This one rounds a small request (up to 8 KiB) up to its class (a multiple of 16 bytes
//! up to 256, then a power of two), takes a block of that class from the class's free list or,
//! when the list is empty, from the top of a chunk, and puts a freed block back on its class's
//! list. Blocks are never split or merged, so memory holds at most about twice the live small
//! bytes per class at their peak; a long-lived instance running the same code over and over
//! reuses its blocks and does not grow. Chunks, and every larger or over-aligned request, come
//! from the system allocator, which owns the heap (on `wasm32-unknown-unknown`, the first chunk is
//! the heap's initial room: see `initial_room`).
//!
//! It is on by default (the `arena` feature); a plugin that wants another global allocator
//! turns the feature off (`default-features = false`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr::null_mut;

/// The alignment of every block, and the step between the small classes.
const MIN_BLOCK: usize = 16;
/// Requests up to this size have a class every [`MIN_BLOCK`] bytes (16, 32, 48, …); above it,
/// every power of two.
const FINE_UP_TO: usize = 256;
/// The largest block served from chunks; larger requests go to the system allocator.
const LARGEST_CLASS: usize = 8 << 10;
/// 16 fine classes, then 512, 1 Ki, 2 Ki, 4 Ki and 8 Ki.
const CLASSES: usize = FINE_UP_TO / MIN_BLOCK + 5;
/// The first chunk on `wasm32-wasip2`: it fits in the heap's initial room, so a short-lived
/// instance that allocates little never grows its memory.
const FIRST_CHUNK: usize = 16 << 10;
/// Every later chunk.
const CHUNK: usize = 64 << 10;

/// The allocator; see the module documentation.
pub struct Arena(UnsafeCell<State>);

struct State {
    /// The next free byte of the current chunk.
    top: usize,
    /// The end of the current chunk; 0 before the first one.
    end: usize,
    /// Freed blocks of each class, linked through their first word.
    free: [*mut u8; CLASSES],
}

// SAFETY: a plugin runs on one thread (wasm32 without the `atomics` feature has no threads).
// Natively the module exists only for its unit tests, each of which uses its own arena on one
// thread.
unsafe impl Sync for Arena {}

impl Arena {
    /// An empty arena; its first chunk is taken at the first allocation.
    pub const fn new() -> Self {
        Arena(UnsafeCell::new(State {
            top: 0,
            end: 0,
            free: [null_mut(); CLASSES],
        }))
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

/// The class of a request, or `None` for one the system allocator serves: larger than
/// [`LARGEST_CLASS`] or aligned to more than [`MIN_BLOCK`].
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if layout.align() > MIN_BLOCK || size > LARGEST_CLASS {
        None
    } else if size <= FINE_UP_TO {
        Some(size.max(1).div_ceil(MIN_BLOCK) - 1)
    } else {
        Some(
            FINE_UP_TO / MIN_BLOCK
                + (size.next_power_of_two().trailing_zeros() - FINE_UP_TO.trailing_zeros())
                    as usize
                - 1,
        )
    }
}

/// The size of a block of `class`.
fn block_size(class: usize) -> usize {
    const FINE: usize = FINE_UP_TO / MIN_BLOCK;
    if class < FINE {
        (class + 1) * MIN_BLOCK
    } else {
        FINE_UP_TO << (class + 1 - FINE)
    }
}

impl State {
    /// A block of `size` bytes from the top of the current chunk, or of a new one.
    fn bump(&mut self, size: usize) -> *mut u8 {
        while self.end - self.top < size {
            // The rest of the old chunk is left unused.
            let Some((start, len)) = self.chunk() else {
                return null_mut();
            };
            self.top = start;
            self.end = start + len;
        }
        let block = self.top;
        self.top += size;
        block as *mut u8
    }

    /// A new chunk, as (start, length).
    fn chunk(&self) -> Option<(usize, usize)> {
        let first = self.end == 0;
        #[cfg(target_os = "unknown")]
        if first {
            return Some(initial_room());
        }
        let len = if first { FIRST_CHUNK } else { CHUNK };
        // SAFETY: a valid, non-zero layout.
        let start = unsafe { System.alloc(Layout::from_size_align_unchecked(len, MIN_BLOCK)) };
        (!start.is_null()).then_some((start as usize, len))
    }
}

/// On `wasm32-unknown-unknown` (no libc), the first chunk is the room the linker left between
/// the heap's base and the end of the initial memory: Rust's system allocator there only ever
/// takes memory by growing it, so that room is nobody's, and an instance that allocates less
/// than it never grows its memory (growing is a call into the host, and it makes the next
/// instance in the same slot cost more).
#[cfg(target_os = "unknown")]
fn initial_room() -> (usize, usize) {
    unsafe extern "C" {
        static __heap_base: u8;
        static __heap_end: u8;
    }
    let start = ((&raw const __heap_base) as usize).next_multiple_of(MIN_BLOCK);
    let end = (&raw const __heap_end) as usize;
    (start, end.saturating_sub(start))
}

// SAFETY: every block handed out is `layout.size()` bytes or more, aligned to `layout.align()`,
// and not handed out again until it is freed.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(layout) else {
            // SAFETY: the caller's layout, passed on.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: one thread, and no allocator call re-enters another.
        let state = unsafe { &mut *self.0.get() };
        let block = state.free[class];
        if block.is_null() {
            return state.bump(block_size(class));
        }
        // SAFETY: a free block's first word links to the next free block of its class.
        state.free[class] = unsafe { *(block as *mut *mut u8) };
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = class(layout) else {
            // SAFETY: `ptr` came from `System.alloc(layout)` (see `alloc`).
            return unsafe { System.dealloc(ptr, layout) };
        };
        // SAFETY: as in `alloc`.
        let state = unsafe { &mut *self.0.get() };
        // SAFETY: `ptr` is a block of this class (at least 16 bytes, 16-aligned) no longer in use.
        unsafe { *(ptr as *mut *mut u8) = state.free[class] };
        state.free[class] = ptr;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `GlobalAlloc::realloc`'s contract makes `new_size` with `layout.align()` a valid
        // layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new_layout)) {
            (Some(old), Some(new)) if old == new => return ptr,
            // SAFETY: `ptr` came from `System.alloc(layout)`, and the new size stays there.
            (None, None) => return unsafe { System.realloc(ptr, layout, new_size) },
            (Some(old), Some(new)) if new > old => {
                // SAFETY: as in `alloc`.
                let state = unsafe { &mut *self.0.get() };
                // The block is its chunk's top and the chunk has room: grow it in place.
                if ptr as usize + block_size(old) == state.top
                    && state.end - ptr as usize >= block_size(new)
                {
                    state.top = ptr as usize + block_size(new);
                    return ptr;
                }
            }
            _ => {}
        }
        // SAFETY: `new_layout` is valid and not zero-sized (`realloc`'s contract).
        let new_ptr = unsafe { self.alloc(new_layout) };
        if !new_ptr.is_null() {
            // SAFETY: both blocks hold at least the smaller size, and they do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new_ptr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn classes_step_by_16_bytes_then_double() {
        let sizes = [
            (1, 16),
            (16, 16),
            (17, 32),
            (255, 256),
            (256, 256),
            (257, 512),
            (4097, 8192),
            (8192, 8192),
        ];
        for (size, block) in sizes {
            assert_eq!(
                block_size(class(layout(size)).unwrap()),
                block,
                "size {size}"
            );
        }
        assert_eq!(class(layout(8193)), None);
        assert_eq!(class(Layout::from_size_align(64, 32).unwrap()), None);
        assert_eq!(class(layout(8192)), Some(CLASSES - 1));
    }

    #[test]
    fn a_freed_block_is_reused_by_its_class_only() {
        let arena = Arena::new();
        unsafe {
            let a = arena.alloc(layout(40));
            let b = arena.alloc(layout(40));
            assert_eq!(b as usize - a as usize, 48, "bumped by the class's size");
            arena.dealloc(a, layout(40));
            let other = arena.alloc(layout(100));
            assert_ne!(other, a, "another class does not take the block");
            assert_eq!(arena.alloc(layout(33)), a, "the same class does");
            for p in [a, b, other] {
                assert_eq!(p as usize % MIN_BLOCK, 0);
            }
        }
    }

    #[test]
    fn the_same_work_over_and_over_does_not_grow() {
        let arena = Arena::new();
        let mut top = None;
        for round in 0..1_000 {
            let blocks: Vec<(*mut u8, Layout)> = (1..200)
                .map(|i| layout(i * 7 % 3000 + 1))
                .map(|l| (unsafe { arena.alloc(l) }, l))
                .collect();
            for (p, l) in blocks.into_iter().rev() {
                unsafe { arena.dealloc(p, l) };
            }
            let now = unsafe { (*arena.0.get()).top };
            if round > 0 {
                assert_eq!(Some(now), top, "round {round} took new memory");
            }
            top = Some(now);
        }
    }

    #[test]
    fn realloc_keeps_the_contents_within_between_and_beyond_the_classes() {
        let arena = Arena::new();
        unsafe {
            let mut size = 5;
            let mut p = arena.alloc(layout(size));
            std::ptr::write_bytes(p, 0xab, size);
            for new_size in [12, 16, 17, 250, 300, 9000, 20_000, 700, 3] {
                p = arena.realloc(p, layout(size), new_size);
                assert!(!p.is_null());
                let kept = size.min(new_size);
                assert!(
                    std::slice::from_raw_parts(p, kept)
                        .iter()
                        .all(|&b| b == 0xab),
                    "{size} -> {new_size}"
                );
                std::ptr::write_bytes(p, 0xab, new_size);
                size = new_size;
            }
            arena.dealloc(p, layout(size));
        }
    }

    #[test]
    fn the_top_block_grows_in_place() {
        let arena = Arena::new();
        unsafe {
            let p = arena.alloc(layout(20));
            let grown = arena.realloc(p, layout(20), 200);
            assert_eq!(grown, p);
            let next = arena.alloc(layout(16));
            assert_eq!(
                next as usize,
                p as usize + 208,
                "the top moved past the grown block"
            );
            assert_ne!(
                arena.realloc(p, layout(200), 400),
                p,
                "a block that is no longer the top moves"
            );
        }
    }

    #[test]
    fn large_and_over_aligned_requests_go_to_the_system() {
        let arena = Arena::new();
        unsafe {
            let aligned = Layout::from_size_align(64, 64).unwrap();
            let p = arena.alloc(aligned);
            assert_eq!(p as usize % 64, 0);
            arena.dealloc(p, aligned);
            let big = arena.alloc(layout(100_000));
            assert!(!big.is_null());
            arena.dealloc(big, layout(100_000));
            assert_eq!((*arena.0.get()).end, 0, "no chunk was taken");
        }
    }
}
