"""Settings survive a round trip and never break start-up."""

from inpaint_studio.session.settings import MAX_RECENT_FILES, Settings


def test_round_trip(tmp_path):
    path = tmp_path / "cfg" / "settings.json"
    settings = Settings(engine="telea", brush_share=0.05, auto_run=False)
    settings.add_recent(tmp_path / "a.jpg")
    settings.save(path)
    loaded = Settings.load(path)
    assert loaded == settings


def test_damaged_or_odd_files_give_defaults_field_by_field(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert Settings.load(path) == Settings()
    path.write_text('{"brush_share": "huge", "engine": "ns", "overlay_opacity": 1, "recent_files": ["x", 3]}')
    loaded = Settings.load(path)
    assert loaded.brush_share == Settings().brush_share
    assert loaded.engine == "ns" and loaded.overlay_opacity == 1.0 and loaded.recent_files == ["x"]
    assert Settings.load(tmp_path / "missing.json") == Settings()


def test_recent_files_are_unique_newest_first_and_bounded(tmp_path):
    settings = Settings()
    for index in range(MAX_RECENT_FILES + 3):
        settings.add_recent(tmp_path / f"{index}.jpg")
    settings.add_recent(tmp_path / "5.jpg")
    assert len(settings.recent_files) == MAX_RECENT_FILES
    assert settings.recent_files[0].endswith("5.jpg")
    assert len(set(settings.recent_files)) == MAX_RECENT_FILES


def test_listeners_hear_changes_of_values_only_and_are_not_saved(tmp_path):
    settings = Settings()
    heard = []
    settings.on_change(lambda: heard.append(settings.engine))
    settings.engine = "telea"
    settings.engine = "telea"  # the same value: nothing changed
    settings.auto_run = not settings.auto_run
    assert heard == ["telea", "telea"]
    settings.save(tmp_path / "settings.json")
    assert "listeners" not in (tmp_path / "settings.json").read_text()
    assert Settings.load(tmp_path / "settings.json") == settings
