-- Why a usage was released, as data: a stable problem code beside the message, instead of "code: message" in one text.
ALTER TABLE usage ADD COLUMN error_code TEXT;

UPDATE usage
SET error_code = substr(error, 1, instr(error, ': ') - 1),
    error = substr(error, instr(error, ': ') + 2)
WHERE state = 'released' AND instr(error, ': ') > 1 AND substr(error, 1, instr(error, ': ') - 1) NOT GLOB '*[^a-z_]*';
