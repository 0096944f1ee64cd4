/**
 * Bounded sweep, part 1 of 4: seeds 1..50 of 3-member clusters with every fault
 * (message loss, duplication, delay; symmetric, one-way and leader-isolating partitions; crashes
 * with lost and torn unsynced writes; clock drift; slow disks), each run judged by every checker
 * (see ./sweep.ts).
 */
import { sweep } from './sweep.js';

sweep(1, 50);
