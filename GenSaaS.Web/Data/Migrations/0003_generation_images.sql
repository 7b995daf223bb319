-- Images small enough to keep beside their generation (up to ImageStore.InlineLimit bytes: most thumbnails, and small
-- outputs). They are written in the transaction that records the generation, so they exist exactly when it does and
-- cost no file. Bigger ones are files under the data folder's images/.
CREATE TABLE generation_images (
    generation_id  TEXT NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    variant        TEXT NOT NULL CHECK (variant IN ('image', 'thumbnail')),
    png            BLOB NOT NULL,
    PRIMARY KEY (generation_id, variant)
);
