//! Redis' geohash math (its `geohash.c` and `geohash_helper.c`), operation
//! for operation so that scores, distances and search results come out bit
//! for bit as Redis computes them.
//!
//! A position is stored as a sorted-set score: the longitude and latitude,
//! each scaled to 26 bits over its range (latitude over +-85.05112878, the
//! Web Mercator limit), interleaved into a 52-bit integer (latitude bits at
//! the even positions). A search covers its shape with the 3x3 geohash
//! cells around the centre, at a step (bits per axis) chosen from the
//! radius, and scans each cell's score interval.
//!
//! Invariants: nothing here panics, whatever the input (out-of-range
//! scores decode to clamped positions, as Redis' casts give them).

/// Bits per axis of a stored score.
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A geohash: `step` bits per axis, interleaved in `bits`. Step 0 with no
/// bits is the "zero" hash, a neighbour excluded from a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    const ZERO: HashBits = HashBits { bits: 0, step: 0 };

    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The range Redis stores positions over.
const LONG_RANGE: Range = Range { min: LONG_MIN, max: LONG_MAX };
const LAT_RANGE: Range = Range { min: LAT_MIN, max: LAT_MAX };

/// The cell a geohash names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub longitude: Range,
    pub latitude: Range,
}

/// Interleaves the bits of `x` (even positions) and `y` (odd positions).
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] =
        [0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for (&b, &s) in B.iter().zip(S.iter()).rev() {
        x = (x | (x << s)) & b;
        y = (y | (y << s)) & b;
    }
    x | (y << 1)
}

/// The inverse of [`interleave64`]: `x` in the low 32 bits, `y` in the high.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for (&b, &s) in B.iter().zip(S.iter()) {
        x = (x | (x >> s)) & b;
        y = (y | (y >> s)) & b;
    }
    x | (y << 32)
}

/// Redis' `geohashEncode`; `None` outside the supported positions.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<HashBits> {
    if step == 0 || step > 32 {
        return None;
    }
    let within = |range: Range, v: f64| (range.min..=range.max).contains(&v);
    let inside = within(LONG_RANGE, longitude)
        && within(LAT_RANGE, latitude)
        && within(long_range, longitude)
        && within(lat_range, latitude);
    if !inside {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= scale;
    long_offset *= scale;
    Some(HashBits { bits: interleave64(lat_offset as u32, long_offset as u32), step })
}

/// The stored score of a position (GEOADD); `None` outside the limits.
pub fn score_of(longitude: f64, latitude: f64) -> Option<u64> {
    encode(LONG_RANGE, LAT_RANGE, longitude, latitude, STEP_MAX).map(align52)
}

/// Redis' `geohashDecode`: the cell of `hash`; `None` for the zero hash.
pub fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let hash_sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = hash_sep as u32;
    let ilono = (hash_sep >> 32) as u32;
    let cells = 1u64.checked_shl(u32::from(hash.step)).unwrap_or(0) as f64;
    let at = |range: Range, scale: f64, i: u32| range.min + (f64::from(i) / cells) * scale;
    Some(Area {
        latitude: Range {
            min: at(lat_range, lat_scale, ilato),
            max: at(lat_range, lat_scale, ilato.wrapping_add(1)),
        },
        longitude: Range {
            min: at(long_range, long_scale, ilono),
            max: at(long_range, long_scale, ilono.wrapping_add(1)),
        },
    })
}

/// A cell's centre, clamped to the supported limits.
fn centre(area: &Area) -> (f64, f64) {
    let x = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let y = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (x, y)
}

/// The integer bits of a score, as C's `(uint64_t)` cast of a double gives
/// them on x86-64 (negative values through `int64_t`, the rest saturated).
fn score_bits(score: f64) -> u64 {
    if score >= 0.0 {
        score as u64
    } else if score >= i64::MIN as f64 {
        (score as i64) as u64
    } else {
        1 << 63
    }
}

/// The position (longitude, latitude) a score stands for: its cell's centre.
pub fn decode_score(score: f64) -> (f64, f64) {
    let hash = HashBits { bits: score_bits(score), step: STEP_MAX };
    decode(LONG_RANGE, LAT_RANGE, hash).map_or((0.0, 0.0), |area| centre(&area))
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - 2 * u32::from(hash.step);
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaaaaaaaaaaaaaau64.checked_shr(shift).unwrap_or(0);
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - 2 * u32::from(hash.step);
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555555555555555u64.checked_shr(shift).unwrap_or(0);
    hash.bits = x | y;
}

fn moved(hash: HashBits, dx: i8, dy: i8) -> HashBits {
    let mut h = hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

/// The eight neighbours of a cell, in Redis' search order: north, south,
/// east, west, north-east, north-west, south-east, south-west.
fn neighbors(hash: HashBits) -> [HashBits; 8] {
    [
        moved(hash, 0, 1),
        moved(hash, 0, -1),
        moved(hash, 1, 0),
        moved(hash, -1, 0),
        moved(hash, 1, 1),
        moved(hash, -1, 1),
        moved(hash, 1, -1),
        moved(hash, -1, -1),
    ]
}

const NORTH: usize = 0;
const SOUTH: usize = 1;
const EAST: usize = 2;
const WEST: usize = 3;
const NORTH_EAST: usize = 4;
const NORTH_WEST: usize = 5;
const SOUTH_EAST: usize = 6;
const SOUTH_WEST: usize = 7;

/// A hash's first score, as the 52-bit integer.
pub fn align52(hash: HashBits) -> u64 {
    hash.bits.checked_shl(52u32.saturating_sub(2 * u32::from(hash.step))).unwrap_or(0)
}

/// The score interval `[min, max)` holding every position in the cell.
pub fn score_interval(hash: HashBits) -> (f64, f64) {
    let min = align52(hash);
    let max = align52(HashBits { bits: hash.bits.wrapping_add(1), step: hash.step });
    (min as f64, max as f64)
}

/// Redis' `geohashEstimateStepsByRadius`.
fn estimate_steps_by_radius(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers around its centre; sizes in the query's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extent {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search shape: centre, extent, and the unit's size in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub longitude: f64,
    pub latitude: f64,
    pub extent: Extent,
    pub conversion: f64,
}

impl Shape {
    /// Redis' `geohashBoundingBox`: [min lon, min lat, max lon, max lat].
    fn bounding_box(&self) -> [f64; 4] {
        let (longitude, latitude) = (self.longitude, self.latitude);
        let (height, width) = match self.extent {
            Extent::Radius(r) => (self.conversion * r, self.conversion * r),
            Extent::Box { width, height } => {
                (self.conversion * (height / 2.0), self.conversion * (width / 2.0))
            }
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
        let long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
        let long_delta = if latitude < 0.0 { long_delta_bottom } else { long_delta_top };
        [longitude - long_delta, latitude - lat_delta, longitude + long_delta, latitude + lat_delta]
    }

    /// Redis' `geohashCalculateAreasByShapeWGS84`: the centre cell and its
    /// neighbours that may hold matches, in search order (useless ones
    /// dropped).
    pub fn cells(&self) -> Vec<HashBits> {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let radius_meters = match self.extent {
            Extent::Radius(r) => r,
            Extent::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps_by_radius(radius_meters, self.latitude);
        let at = |steps: u8| {
            let hash =
                encode(LONG_RANGE, LAT_RANGE, self.longitude, self.latitude, steps).unwrap_or(HashBits::ZERO);
            (hash, neighbors(hash), decode(LONG_RANGE, LAT_RANGE, hash))
        };
        let (mut hash, mut around, mut area) = at(steps);
        let side = |i: usize| decode(LONG_RANGE, LAT_RANGE, around[i]);
        let decrease_step = side(NORTH).is_some_and(|a| a.latitude.max < max_lat)
            || side(SOUTH).is_some_and(|a| a.latitude.min > min_lat)
            || side(EAST).is_some_and(|a| a.longitude.max < max_lon)
            || side(WEST).is_some_and(|a| a.longitude.min > min_lon);
        if steps > 1 && decrease_step {
            steps -= 1;
            (hash, around, area) = at(steps);
        }
        if let (true, Some(area)) = (steps >= 2, area) {
            let mut exclude = |sides: [usize; 3]| sides.iter().for_each(|&i| around[i] = HashBits::ZERO);
            if area.latitude.min < min_lat {
                exclude([SOUTH, SOUTH_WEST, SOUTH_EAST]);
            }
            if area.latitude.max > max_lat {
                exclude([NORTH, NORTH_EAST, NORTH_WEST]);
            }
            if area.longitude.min < min_lon {
                exclude([WEST, SOUTH_WEST, NORTH_WEST]);
            }
            if area.longitude.max > max_lon {
                exclude([EAST, SOUTH_EAST, NORTH_EAST]);
            }
        }
        // Redis' `membersOfAllNeighbors`: skip zeroed cells, and a cell equal
        // to the last one scanned (huge radii make neighbours coincide) —
        // unless that was the centre, which Redis' check cannot tell from
        // "none yet" (index 0), so a neighbour equal to it is scanned again.
        let nine: Vec<HashBits> = std::iter::once(hash).chain(around).collect();
        let mut cells = Vec::with_capacity(9);
        let mut last_processed = 0;
        for (i, &cell) in nine.iter().enumerate() {
            let repeated = last_processed != 0 && nine.get(last_processed) == Some(&cell);
            if cell.is_zero() || repeated {
                continue;
            }
            cells.push(cell);
            last_processed = i;
        }
        cells
    }

    /// Redis' `geoWithinShape`: the position of `score` and its distance
    /// from the centre in metres, if it lies in the shape.
    pub fn contains(&self, score: f64) -> Option<((f64, f64), f64)> {
        let (x, y) = decode_score(score);
        let distance = match self.extent {
            Extent::Radius(r) => {
                let d = distance(self.longitude, self.latitude, x, y);
                if d > r * self.conversion {
                    return None;
                }
                d
            }
            Extent::Box { width, height } => {
                let (width_m, height_m) = (width * self.conversion, height * self.conversion);
                if lat_distance(y, self.latitude) > height_m / 2.0 {
                    return None;
                }
                if distance(x, y, self.longitude, y) > width_m / 2.0 {
                    return None;
                }
                distance(self.longitude, self.latitude, x, y)
            }
        };
        Some(((x, y), distance))
    }
}

/// The distance along a meridian, in metres.
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Redis' haversine great-circle distance, in metres.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// The standard 11-character geohash of a score (GEOHASH): the position
/// re-encoded over latitude +-90, the last character from bits Redis does
/// not have (zero).
pub fn standard_geohash(score: f64) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (x, y) = decode_score(score);
    let world = (Range { min: -180.0, max: 180.0 }, Range { min: -90.0, max: 90.0 });
    let hash = encode(world.0, world.1, x, y, 26)?;
    let text = (0..11)
        .map(|i| {
            let index = if i == 10 { 0 } else { (hash.bits >> (52 - (i + 1) * 5)) & 0x1f };
            char::from(ALPHABET[index as usize])
        })
        .collect();
    Some(text)
}

/// A distance as Redis 7.2 prints it: 4 decimals, rounded as `llrint` of
/// the value times 10^4 (7.0 printed `%.4f`; they differ only on rare
/// halfway cases).
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let scaled = (d * 10000.0).round_ties_even();
    // llrint of NaN or of an out-of-range value is LLONG_MIN on x86-64.
    let svalue = if scaled.is_finite() && scaled.abs() < 9.2e18 { scaled as i64 } else { i64::MIN };
    let sign = if svalue < 0 { "-" } else { "" };
    let value = svalue.unsigned_abs();
    format!("{sign}{}.{:04}", value / 10000, value % 10000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_what_redis_stores() {
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(score_of(181.0, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
        assert_eq!(score_of(-180.0, -85.05112878), Some(0));
    }

    #[test]
    fn positions_decode_to_the_cell_centre() {
        let (x, y) = decode_score(3479099956230698.0);
        assert_eq!(format!("{x:.17}"), "13.36138933897018433");
        assert_eq!(format!("{y:.17}"), "38.11555639549629859");
        // Scores no GEOADD makes still decode, clamped, without panicking.
        for score in [-1.0, 1e300, f64::INFINITY, f64::NEG_INFINITY, 4.5e15, 1.8e19] {
            let (x, y) = decode_score(score);
            assert!((LONG_MIN..=LONG_MAX).contains(&x) && (LAT_MIN..=LAT_MAX).contains(&y), "{score}");
        }
    }

    #[test]
    fn geohash_strings_are_the_standard_ones() {
        assert_eq!(standard_geohash(3479099956230698.0).as_deref(), Some("sqc8b49rny0"));
        assert_eq!(standard_geohash(3479447370796909.0).as_deref(), Some("sqdtr74hyu0"));
        // The corners of the projection and a point by the antimeridian.
        assert_eq!(standard_geohash(13510798882111488.0).as_deref(), Some("bp05b5048p0"));
        assert_eq!(standard_geohash(0.0).as_deref(), Some("00bh0hbj200"));
        assert_eq!(standard_geohash(3377678242651951.0).as_deref(), Some("rzzvpubxqc0"));
        assert_eq!(format!("{:.17}", decode_score(0.0).0), "-179.99999731779098511");
        assert_eq!(format!("{:.17}", decode_score(0.0).1), "-85.05112751263942528");
    }

    #[test]
    fn distances_use_redis_haversine_and_print_four_decimals() {
        let (x1, y1) = decode_score(3479099956230698.0);
        let (x2, y2) = decode_score(3479447370796909.0);
        assert_eq!(format_distance(distance(x1, y1, x2, y2)), "166274.1516");
        assert_eq!(format_distance(distance(x1, y1, x2, y2) / 1000.0), "166.2742");
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(0.00004), "0.0000");
        assert_eq!(format_distance(0.00016), "0.0002");
        assert_eq!(format_distance(12.5), "12.5000");
    }

    #[test]
    fn neighbours_wrap_and_cells_never_panic() {
        let hash = HashBits { bits: 0, step: 1 };
        let around = neighbors(hash);
        assert!(around.iter().all(|h| h.step == 1 && h.bits < 4));
        let extents =
            [Extent::Radius(0.0), Extent::Radius(1e-300), Extent::Radius(f64::INFINITY), Extent::Radius(5e6)];
        for extent in extents {
            for (longitude, latitude) in [(0.0, 0.0), (180.0, LAT_MAX), (-180.0, LAT_MIN), (179.9, 84.0)] {
                let shape = Shape { longitude, latitude, extent, conversion: 1.0 };
                let cells = shape.cells();
                assert!(!cells.is_empty() && cells.len() <= 9, "{extent:?} at {longitude},{latitude}");
            }
        }
    }

    #[test]
    fn a_small_radius_searches_nine_cells_at_a_fine_step() {
        let shape =
            Shape { longitude: 15.0, latitude: 37.0, extent: Extent::Radius(200.0), conversion: 1000.0 };
        let cells = shape.cells();
        assert!(cells.iter().all(|c| c.step == cells[0].step) && cells[0].step >= 5);
        let palermo = 3479099956230698.0;
        let (_, d) = shape.contains(palermo).unwrap();
        assert_eq!(format_distance(d / 1000.0), "190.4424");
        let covered = cells.iter().any(|&c| {
            let (min, max) = score_interval(c);
            (min..max).contains(&palermo)
        });
        assert!(covered, "Palermo's cell is searched");
    }
}
