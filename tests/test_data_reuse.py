"""Data that a process has read once is not read again by its next job."""


def test_bundled_digits_are_read_once_per_process_and_each_job_gets_its_own_copy():
    from transfer_lab.data.datasets.digits import load_digits
    from transfer_lab.data.loading import read_once

    first = read_once(load_digits, {"root": None, "download": False, "image_size": None})
    first.settings = "job 1"
    second = read_once(load_digits, {"root": None, "download": False, "image_size": None})
    assert second is not first and second.settings is None
    assert second.train_images is first.train_images  # shared, not read again
    assert second.channel_stats() == first.channel_stats()
    resized = read_once(load_digits, {"root": None, "download": False, "image_size": 16})
    assert resized.shape == (1, 16, 16)
