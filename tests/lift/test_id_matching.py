"""Area-aware Hungarian matching of mask ids to identities, against brute force."""

from __future__ import annotations

import itertools

import numpy as np

from liftstudio.lift.id_matching import assignment_cost, match_masks_to_identities


def _brute_force_cost(probabilities, pixel_mask, num_masks, area_aware):
    cost = np.zeros((num_masks, probabilities.shape[1]))
    for mask in range(num_masks):
        rows = [p for p in range(len(pixel_mask)) if pixel_mask[p] == mask]
        for k in range(probabilities.shape[1]):
            total = sum(probabilities[p, k] for p in rows)
            cost[mask, k] = -total if area_aware or not rows else -total / len(rows)
    return cost


def _best_assignment(cost):
    masks, identities = cost.shape
    best, best_cost = None, np.inf
    for chosen in itertools.permutations(range(identities), min(masks, identities)):
        if masks <= identities:
            total = sum(cost[m, chosen[m]] for m in range(masks))
            matched = list(chosen)
        else:
            continue
        if total < best_cost - 1e-12:
            best, best_cost = matched, total
    return np.array(best), best_cost


def test_cost_is_the_summed_or_mean_probability_per_mask():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(5), size=40)
    pixel_mask = rng.integers(-1, 4, size=40)
    for area_aware in (True, False):
        np.testing.assert_allclose(
            assignment_cost(probabilities, pixel_mask, 4, area_aware=area_aware),
            _brute_force_cost(probabilities, pixel_mask, 4, area_aware),
            rtol=1e-6,
        )


def test_matching_is_the_brute_force_optimum():
    rng = np.random.default_rng(1)
    for trial in range(30):
        masks, identities = rng.integers(1, 5), 5
        cost = rng.normal(size=(masks, identities))
        matched = match_masks_to_identities(cost)
        expected, expected_cost = _best_assignment(cost)
        assert len(set(matched)) == masks, trial
        np.testing.assert_allclose(cost[np.arange(masks), matched].sum(), expected_cost)
        np.testing.assert_array_equal(matched, expected)


def test_more_masks_than_identities_leaves_the_cheapest_rest_unmatched():
    cost = np.array([[-5.0, 0.0], [0.0, -4.0], [-1.0, -1.0]])
    np.testing.assert_array_equal(match_masks_to_identities(cost), [0, 1, -1])


def test_area_aware_lets_the_large_mask_keep_its_identity():
    # A large mask (30 pixels) puts 0.6 on identity 0; a small one (3 pixels) puts 0.9
    # on identity 0 and 0.1 on identity 1. Summing, the large mask keeps identity 0;
    # averaging (Panoptic Lifting), the small mask would take it.
    large = np.tile([0.6, 0.4], (30, 1))
    small = np.tile([0.9, 0.1], (3, 1))
    probabilities = np.vstack([large, small])
    pixel_mask = np.array([0] * 30 + [1] * 3)
    summed = match_masks_to_identities(assignment_cost(probabilities, pixel_mask, 2))
    averaged = match_masks_to_identities(
        assignment_cost(probabilities, pixel_mask, 2, area_aware=False)
    )
    np.testing.assert_array_equal(summed, [0, 1])
    np.testing.assert_array_equal(averaged, [1, 0])
